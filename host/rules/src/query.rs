//! Query string scanning without allocation.
//!
//! Keys and values are compared in decoded form (`+` is a space, `%XX` a
//! byte), decoding on the fly. A pair whose key or value has a malformed
//! escape is ignored, as Go's `url.ParseQuery` does.

use std::borrow::Cow;

/// Raw `(key, value)` pairs of a query string; `value` is empty when the
/// pair has no `=`. Empty segments are skipped.
pub(crate) struct Pairs<'a> {
    rest: &'a str,
    v2: bool,
}

/// Pairs as Go's `url.ParseQuery` sees them: split on `&`, and a segment
/// holding a `;` is dropped.
pub(crate) fn pairs(query: &str) -> Pairs<'_> {
    Pairs {
        rest: query,
        v2: false,
    }
}

/// Pairs as the legacy (v2) matchers see them: split on `&` and `;`.
pub(crate) fn pairs_v2(query: &str) -> Pairs<'_> {
    Pairs {
        rest: query,
        v2: true,
    }
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        while !self.rest.is_empty() {
            let end = if self.v2 {
                self.rest.find(['&', ';'])
            } else {
                self.rest.find('&')
            };
            let (segment, rest) = match end {
                Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
                None => (self.rest, ""),
            };
            self.rest = rest;
            if segment.is_empty() || (!self.v2 && segment.contains(';')) {
                continue;
            }
            return Some(segment.split_once('=').unwrap_or((segment, "")));
        }
        None
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes the byte at `raw[*i]`, advancing `i`. `None` on a bad escape.
fn next_byte(raw: &[u8], i: &mut usize) -> Option<u8> {
    match raw[*i] {
        b'+' => {
            *i += 1;
            Some(b' ')
        }
        b'%' => {
            let h = hex(*raw.get(*i + 1)?)?;
            let l = hex(*raw.get(*i + 2)?)?;
            *i += 3;
            Some(h * 16 + l)
        }
        b => {
            *i += 1;
            Some(b)
        }
    }
}

/// Whether `raw` decodes without error.
pub(crate) fn valid(raw: &str) -> bool {
    let raw = raw.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if next_byte(raw, &mut i).is_none() {
            return false;
        }
    }
    true
}

/// Whether `raw` decodes (validly) to exactly `target`.
pub(crate) fn decoded_eq(raw: &str, target: &str) -> bool {
    let (raw, target) = (raw.as_bytes(), target.as_bytes());
    if raw.len() < target.len() {
        return false;
    }
    let mut i = 0;
    let mut j = 0;
    while i < raw.len() {
        match next_byte(raw, &mut i) {
            Some(b) if target.get(j) == Some(&b) => j += 1,
            _ => return false,
        }
    }
    j == target.len()
}

/// Decoded `raw`, borrowed when it holds no escape; invalid UTF-8 becomes
/// U+FFFD. `None` on a malformed escape.
pub(crate) fn decode(raw: &str) -> Option<Cow<'_, str>> {
    if !raw.contains(['%', '+']) {
        return Some(Cow::Borrowed(raw));
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        out.push(next_byte(bytes, &mut i)?);
    }
    Some(match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    })
}

/// Decoded values of `key` in `query`, Go `url.ParseQuery` style.
pub(crate) fn values<'a>(query: &'a str, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    pairs(query)
        .filter(move |(k, v)| decoded_eq(k, key) && valid(v))
        .map(|(_, v)| v)
}

/// Raw value of the first pair whose key is `key`, legacy (v2) style.
pub(crate) fn first_value_v2<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    pairs_v2(query)
        .find(|(k, v)| decoded_eq(k, key) && valid(v))
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting() {
        let p: Vec<_> = pairs("a=1&&b&c=x=y;d&e=2").collect();
        assert_eq!(p, vec![("a", "1"), ("b", ""), ("e", "2")]);
        let p: Vec<_> = pairs_v2("a=1;b=2&c").collect();
        assert_eq!(p, vec![("a", "1"), ("b", "2"), ("c", "")]);
    }

    #[test]
    fn decoding() {
        assert!(decoded_eq("a+b%21", "a b!"));
        assert!(!decoded_eq("a%2", "a"));
        assert!(!decoded_eq("ab", "a"));
        assert!(!decoded_eq("a", "ab"));
        assert_eq!(decode("x%20y").unwrap(), "x y");
        assert!(matches!(decode("plain").unwrap(), Cow::Borrowed(_)));
        assert!(decode("%zz").is_none());
        assert_eq!(decode("%FF").unwrap(), "\u{FFFD}");
    }

    #[test]
    fn lookups() {
        let v: Vec<_> = values("q=a&Q=b&q=c&q=%zz&q%3D=d", "q").collect();
        assert_eq!(v, vec!["a", "c"]);
        assert_eq!(first_value_v2("x=1;q=2&q=3", "q"), Some("2"));
        assert_eq!(first_value_v2("x=1", "q"), None);
    }
}
