//! addPrefix, stripPrefix, stripPrefixRegex, replacePath, replacePathRegex.

use crate::body::Body;
use http::uri::PathAndQuery;
use http::{HeaderName, HeaderValue, Request, Uri};
use regex::Regex;

const X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");
const X_REPLACED_PATH: HeaderName = HeaderName::from_static("x-replaced-path");

/// One path rewrite.
#[derive(Debug)]
pub enum PathRewrite {
    /// Puts a prefix in front of the path.
    AddPrefix(String),
    /// Removes the first matching prefix, recording it in X-Forwarded-Prefix.
    StripPrefix(Vec<String>),
    /// Removes the first match of the first matching regex anchored at the start.
    StripPrefixRegex(Vec<Regex>),
    /// Replaces the whole path, recording the old one in X-Replaced-Path.
    ReplacePath(String),
    /// Regex replacement of the path (`$1` style groups), recording the old one.
    ReplacePathRegex(Regex, String),
}

impl PathRewrite {
    /// Rewrites the request's path.
    pub fn apply(&self, req: &mut Request<Body>) {
        let path = req.uri().path().to_owned();
        match self {
            PathRewrite::AddPrefix(prefix) => set_path(req, &format!("{prefix}{path}")),
            PathRewrite::StripPrefix(prefixes) => {
                if let Some(p) = prefixes.iter().find(|p| path.starts_with(p.as_str())) {
                    let rest = ensure_leading_slash(&path[p.len()..]);
                    insert(req, X_FORWARDED_PREFIX, p);
                    set_path(req, &rest);
                }
            }
            PathRewrite::StripPrefixRegex(regexes) => {
                for re in regexes {
                    if let Some(m) = re.find(&path).filter(|m| m.start() == 0) {
                        let rest = ensure_leading_slash(&path[m.end()..]);
                        insert(req, X_FORWARDED_PREFIX, m.as_str());
                        set_path(req, &rest);
                        break;
                    }
                }
            }
            PathRewrite::ReplacePath(new) => {
                insert(req, X_REPLACED_PATH, &path);
                set_path(req, new);
            }
            PathRewrite::ReplacePathRegex(re, replacement) => {
                if re.is_match(&path) {
                    let new = re.replace(&path, replacement.as_str()).into_owned();
                    insert(req, X_REPLACED_PATH, &path);
                    set_path(req, &new);
                }
            }
        }
    }
}

fn ensure_leading_slash(rest: &str) -> String {
    if rest.starts_with('/') {
        rest.to_owned()
    } else {
        format!("/{rest}")
    }
}

fn insert(req: &mut Request<Body>, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        req.headers_mut().insert(name, v);
    }
}

/// Replaces the path of the request URI, keeping the query and authority.
pub fn set_path(req: &mut Request<Body>, path: &str) {
    let pq = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let Ok(pq) = PathAndQuery::try_from(pq) else {
        return;
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = Some(pq);
    if let Ok(uri) = Uri::from_parts(parts) {
        *req.uri_mut() = uri;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body;

    fn run(rw: PathRewrite, uri: &str) -> Request<Body> {
        let mut req = Request::builder().uri(uri).body(body::empty()).unwrap();
        rw.apply(&mut req);
        req
    }

    #[test]
    fn rewrites() {
        assert_eq!(
            run(PathRewrite::AddPrefix("/api".into()), "/x?a=1").uri(),
            "/api/x?a=1"
        );
        let r = run(PathRewrite::StripPrefix(vec!["/foo".into()]), "/foo/bar");
        assert_eq!(r.uri(), "/bar");
        assert_eq!(r.headers()["x-forwarded-prefix"], "/foo");
        assert_eq!(
            run(PathRewrite::StripPrefix(vec!["/foo".into()]), "/foo").uri(),
            "/"
        );
        let re = Regex::new("^/users/[0-9]+").unwrap();
        assert_eq!(
            run(PathRewrite::StripPrefixRegex(vec![re]), "/users/12/x").uri(),
            "/x"
        );
        let r = run(PathRewrite::ReplacePath("/new".into()), "/old?q");
        assert_eq!(r.uri(), "/new?q");
        assert_eq!(r.headers()["x-replaced-path"], "/old");
        let re = Regex::new("^/foo/(.*)").unwrap();
        assert_eq!(
            run(
                PathRewrite::ReplacePathRegex(re, "/bar/$1".into()),
                "/foo/x"
            )
            .uri(),
            "/bar/x"
        );
    }
}
