//! Request host and routing path normalisation, and host patterns.

use std::borrow::Cow;

/// Normalises a `Host` header value or URI authority for routing.
///
/// Trims surrounding whitespace, strips a port (`example.com:8080`), strips
/// brackets from IPv6 literals (`[::1]:443` and `[::1]` give `::1`), leaves a
/// bare IPv6 literal (`10::10`) alone and lower-cases the result. Borrows
/// when nothing changes.
pub fn request_host(host_header_or_authority: &str) -> Cow<'_, str> {
    let h = host_header_or_authority.trim();
    let h = if let Some(rest) = h.strip_prefix('[') {
        match rest.find(']') {
            // `[v6]` or `[v6]:port`.
            Some(end) if rest[end + 1..].is_empty() || rest[end + 1..].starts_with(':') => {
                &rest[..end]
            }
            _ => h,
        }
    } else {
        match h.find(':') {
            // `name:port`; several colons is a bare IPv6 literal.
            Some(i) if !h[i + 1..].contains(':') => &h[..i],
            _ => h,
        }
    };
    lowercase(h)
}

/// Lower-cases `s`, borrowing when it has no upper-case letters.
pub(crate) fn lowercase(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(s.to_ascii_lowercase())
        } else {
            Cow::Borrowed(s)
        }
    } else if s.chars().any(char::is_uppercase) {
        Cow::Owned(s.to_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// The routing host of a request: the URI authority when the request target
/// carries a non-empty one (absolute form, HTTP/2 `:authority`), else the
/// `Host` header; normalised by [`request_host`]. Empty when neither exists.
pub fn request_host_of<'a>(uri: &'a http::Uri, headers: &'a http::HeaderMap) -> Cow<'a, str> {
    if let Some(authority) = uri.authority() {
        let a = authority.as_str();
        let without_userinfo = a.rsplit_once('@').map_or(a, |(_, host)| host);
        let host = request_host(without_userinfo);
        if !host.is_empty() {
            return host;
        }
    }
    headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map_or(Cow::Borrowed(""), request_host)
}

/// Percent-encoded characters that keep their encoding in the routing path:
/// the RFC 3986 reserved characters, plus `%` itself.
fn reserved(byte: u8) -> bool {
    matches!(
        byte,
        b':' | b'/'
            | b'?'
            | b'#'
            | b'['
            | b']'
            | b'@'
            | b'!'
            | b'$'
            | b'&'
            | b'\''
            | b'('
            | b')'
            | b'*'
            | b'+'
            | b','
            | b';'
            | b'='
            | b'%'
    )
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The path that Path, PathPrefix and PathRegexp match against.
///
/// Takes the raw (still percent-encoded) request path without the query.
/// Percent-encoded characters are decoded, except reserved characters
/// (`%2F`, `%3F`, `%25`, ...), which stay encoded with upper-case hex so
/// that `/a%2Fb` never matches a rule written for `/a/b`. So `/foo%20bar`
/// routes as `/foo bar` while `/foo%2Fbar` stays `/foo%2Fbar`.
///
/// Malformed escapes (`%zz`, a trailing `%`) are kept as they are; Traefik
/// answers 400 to such requests, and a gateway may reject them first. If
/// decoding would produce invalid UTF-8, escapes of non-ASCII bytes stay
/// encoded. Borrows when the path has no `%`.
pub fn routing_path(raw_path: &str) -> Cow<'_, str> {
    if !raw_path.contains('%') {
        return Cow::Borrowed(raw_path);
    }
    let decoded = decode_path(raw_path, true);
    match String::from_utf8(decoded) {
        Ok(s) => Cow::Owned(s),
        Err(_) => Cow::Owned(
            String::from_utf8(decode_path(raw_path, false)).unwrap_or_else(|_| raw_path.into()),
        ),
    }
}

fn decode_path(raw: &str, non_ascii: bool) -> Vec<u8> {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            )
        {
            let v = h * 16 + l;
            if reserved(v) || (!non_ascii && v >= 0x80) {
                out.push(b'%');
                out.extend_from_slice(format!("{v:02X}").as_bytes());
            } else {
                out.push(v);
            }
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Removes one trailing dot: `example.com.` and `example.com` are one host.
pub(crate) fn strip_dot(host: &str) -> &str {
    host.strip_suffix('.').unwrap_or(host)
}

/// One Host (or HostSNI) matcher value, with its wildcards.
#[derive(Debug, Clone)]
pub enum HostPattern {
    /// Exact host, lower-case, without its trailing dot.
    Exact(Box<str>),
    /// `*`: any non-empty host.
    Any,
    /// `*.suffix`: exactly one label before `suffix`.
    OneLabel(Box<str>),
    /// `**.suffix`: one or more labels before `suffix`.
    AnyLabels(Box<str>),
}

impl HostPattern {
    /// Parses a v3 Host value (wildcards allowed). `host` is ASCII.
    pub fn parse(host: &str, wildcards: bool) -> Result<HostPattern, String> {
        let lower = host.to_ascii_lowercase();
        if !wildcards || !lower.contains('*') {
            return Ok(HostPattern::Exact(strip_dot(&lower).into()));
        }
        const SHAPE: &str = "a wildcard must be the whole leftmost label: \
                             `*`, `*.example.com` or `**.example.com`";
        if lower == "*" {
            return Ok(HostPattern::Any);
        }
        let (pattern, rest): (fn(Box<str>) -> HostPattern, &str) =
            if let Some(rest) = lower.strip_prefix("**.") {
                (HostPattern::AnyLabels, rest)
            } else if let Some(rest) = lower.strip_prefix("*.") {
                (HostPattern::OneLabel, rest)
            } else {
                return Err(SHAPE.into());
            };
        let rest = strip_dot(rest);
        if rest.is_empty() || rest.contains('*') {
            return Err(SHAPE.into());
        }
        Ok(pattern(rest.into()))
    }

    /// Whether `host` (routing host, see [`request_host`]) matches.
    pub fn matches(&self, host: &str) -> bool {
        if host.is_empty() {
            return false;
        }
        let host = strip_dot(host);
        match self {
            HostPattern::Exact(h) => host.eq_ignore_ascii_case(h),
            HostPattern::Any => true,
            HostPattern::OneLabel(suffix) => match host.split_once('.') {
                Some((label, rest)) => !label.is_empty() && rest.eq_ignore_ascii_case(suffix),
                None => false,
            },
            HostPattern::AnyLabels(suffix) => {
                // Bytes, not `str` slicing: the host may hold non-ASCII.
                let (h, s) = (host.as_bytes(), suffix.as_bytes());
                h.len() > s.len() + 1
                    && h[h.len() - s.len() - 1] == b'.'
                    && h[h.len() - s.len()..].eq_ignore_ascii_case(s)
                    && h[0] != b'.'
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(request_host("Example.COM:8080"), "example.com");
        assert_eq!(request_host("example.com"), "example.com");
        assert!(matches!(request_host("example.com"), Cow::Borrowed(_)));
        assert_eq!(request_host("[10::10]:80"), "10::10");
        assert_eq!(request_host("[10::10]"), "10::10");
        assert_eq!(request_host("10::10"), "10::10");
        assert_eq!(request_host(" a.b "), "a.b");
        assert_eq!(request_host(""), "");
    }

    #[test]
    fn host_from_uri_or_header() {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::HOST, "Example.org:80".parse().unwrap());
        let uri: http::Uri = "/x".parse().unwrap();
        assert_eq!(request_host_of(&uri, &headers), "example.org");
        let uri: http::Uri = "http://example.com/".parse().unwrap();
        assert_eq!(request_host_of(&uri, &headers), "example.com");
        let uri: http::Uri = "http://user@[::1]:8080/".parse().unwrap();
        assert_eq!(request_host_of(&uri, &headers), "::1");
    }

    #[test]
    fn routing_paths() {
        assert_eq!(routing_path("/foo%20bar"), "/foo bar");
        assert_eq!(routing_path("/foo%2Fbar"), "/foo%2Fbar");
        assert_eq!(routing_path("/foo%2fbar"), "/foo%2Fbar");
        assert_eq!(
            routing_path("/foo%20bar%2Fbaz%23qux"),
            "/foo bar%2Fbaz%23qux"
        );
        assert_eq!(routing_path("/%7Bpath:css%7D"), "/{path:css}");
        assert_eq!(routing_path("/%C3%A9"), "/é");
        assert_eq!(routing_path("/%FF%20"), "/%FF ");
        assert_eq!(routing_path("/bad%zz%"), "/bad%zz%");
        assert!(matches!(routing_path("/plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn patterns() {
        let p = |s: &str| HostPattern::parse(s, true).unwrap();
        assert!(p("example.com.").matches("example.com"));
        assert!(p("example.com").matches("example.com."));
        assert!(p("EXAMPLE.com").matches("example.com"));
        assert!(p("*.example.com").matches("test.example.com"));
        assert!(!p("*.example.com").matches("example.com"));
        assert!(!p("*.example.com").matches("a.b.example.com"));
        assert!(!p("*.example.com").matches("test.otherexample.com"));
        assert!(p("**.example.com").matches("a.b.example.com"));
        assert!(!p("**.example.com").matches("example.com"));
        assert!(!p("**.example.com").matches("aexample.com"));
        assert!(!p("**.b.c").matches("éééééé"));
        assert!(!p("*.b.c").matches("é.é"));
        assert!(p("*").matches("localhost"));
        assert!(!p("*").matches(""));
        assert!(HostPattern::parse("a.*.com", true).is_err());
        assert!(HostPattern::parse("*.*.com", true).is_err());
        assert!(matches!(
            HostPattern::parse("*.com", false).unwrap(),
            HostPattern::Exact(_)
        ));
    }
}
