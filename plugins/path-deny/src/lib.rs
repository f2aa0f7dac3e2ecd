//! Refuses requests whose path matches a deny-list, with 403 and a small
//! body. An entry without `*` is a prefix (`/admin` denies `/admin` and
//! `/admin/x`, not `/administrator`); an entry with `*` is a glob over the
//! whole path where `*` matches within one segment and `**` across
//! segments (`/**/*.php`, `/internal/*/debug`).

use std::borrow::Cow;

use wasmgate_plugin_sdk::{Action, HttpResponse, Middleware, Request, export_middleware};

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Settings {
    /// Prefixes and globs to refuse.
    deny: Vec<String>,
    /// Status of the refusal.
    #[serde(default = "default_status")]
    status: u16,
    /// Body of the refusal.
    #[serde(default = "default_body")]
    body: String,
}

fn default_status() -> u16 {
    403
}

fn default_body() -> String {
    "forbidden\n".into()
}

struct PathDeny {
    /// The settings; their `deny` list is moved into `prefixes` and `globs`.
    settings: Settings,
    /// The entries without `*`, without their trailing `/`.
    prefixes: Vec<String>,
    /// The entries with `*`.
    globs: Vec<String>,
}

/// Whether `path` starts with the segment-aligned `prefix` (given without
/// its trailing `/`).
fn prefix_match(prefix: &str, path: &str) -> bool {
    if prefix.is_empty() {
        return true;
    }
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Glob matching: `**` matches anything (including `/`, and `**/` zero or
/// more whole segments), `*` anything but `/`; every other byte matches
/// itself.
fn glob_match(pattern: &[u8], path: &[u8]) -> bool {
    match pattern {
        [] => path.is_empty(),
        // `**/` also matches no segment at all: `/**/*.php` matches `/a.php`.
        [b'*', b'*', b'/', rest @ ..] => {
            glob_match(rest, path)
                || (0..path.len()).any(|i| path[i] == b'/' && glob_match(rest, &path[i + 1..]))
        }
        [b'*', b'*', rest @ ..] => (0..=path.len()).any(|i| glob_match(rest, &path[i..])),
        [b'*', rest @ ..] => {
            let end = path.iter().position(|&b| b == b'/').unwrap_or(path.len());
            (0..=end).any(|i| glob_match(rest, &path[i..]))
        }
        [c, rest @ ..] => path.first() == Some(c) && glob_match(rest, &path[1..]),
    }
}

/// Decodes `%XX` escapes, so `/%61dmin` cannot slip past `/admin`. A path
/// without `%` (the usual case) is borrowed, not copied.
fn percent_decode(path: &str) -> Cow<'_, str> {
    if !path.contains('%') {
        return Cow::Borrowed(path);
    }
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

impl PathDeny {
    fn denied(&self, raw: &str) -> bool {
        let path = percent_decode(raw);
        let path = path.as_ref();
        self.prefixes.iter().any(|p| prefix_match(p, path))
            || self
                .globs
                .iter()
                .any(|g| glob_match(g.as_bytes(), path.as_bytes()))
    }
}

impl Middleware for PathDeny {
    type Settings = Settings;

    fn new(mut settings: Settings) -> Result<Self, String> {
        if let Some(bad) = settings.deny.iter().find(|e| !e.starts_with('/')) {
            return Err(format!("deny entry `{bad}` must start with `/`"));
        }
        if !(100..=999).contains(&settings.status) {
            return Err(format!("status {} is not valid", settings.status));
        }
        let (globs, prefixes): (Vec<String>, Vec<String>) = std::mem::take(&mut settings.deny)
            .into_iter()
            .partition(|e| e.contains('*'));
        let prefixes = prefixes
            .into_iter()
            .map(|p| p.trim_end_matches('/').to_owned())
            .collect();
        Ok(PathDeny {
            settings,
            prefixes,
            globs,
        })
    }

    fn on_request(&mut self, req: &Request) -> Action {
        if !self.denied(&req.path()) {
            return Action::Continue;
        }
        Action::Respond(HttpResponse {
            status: self.settings.status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: self.settings.body.clone().into_bytes(),
        })
    }
}

export_middleware!(PathDeny);
