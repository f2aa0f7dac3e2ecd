//! The `basicAuth` middleware: htpasswd users (bcrypt, Apache MD5 `$apr1$`, `{SHA}`).

use super::{Flow, status};
use crate::body::Body;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderName, HeaderValue, Request, StatusCode, header};
use md5::{Digest, Md5};
use std::collections::HashMap;
use std::sync::RwLock;

/// Successful logins remembered, so bcrypt's deliberate slowness is paid once per credential.
const VERIFIED_CACHE: usize = 1024;

/// A built `basicAuth` middleware.
#[derive(Debug)]
pub struct BasicAuth {
    users: HashMap<String, String>,
    challenge: HeaderValue,
    header_field: Option<HeaderName>,
    remove_header: bool,
    verified: RwLock<HashMap<HeaderValue, String>>,
}

impl BasicAuth {
    /// Builds from `user:hash` lines (from `users` and the contents of `usersFile`).
    pub fn new(
        lines: impl IntoIterator<Item = String>,
        realm: Option<&str>,
        header_field: Option<&str>,
        remove_header: bool,
    ) -> Result<Self, String> {
        let mut users = HashMap::new();
        for line in lines {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, hash) = line
                .split_once(':')
                .ok_or_else(|| format!("user entry `{line}` is not `name:hash`"))?;
            if !(hash.starts_with("$2") || hash.starts_with("$apr1$") || hash.starts_with("{SHA}"))
            {
                return Err(format!(
                    "user `{user}`: unsupported hash (use bcrypt, $apr1$ or {{SHA}}, e.g. from htpasswd)"
                ));
            }
            users.insert(user.to_owned(), hash.to_owned());
        }
        let realm = realm.unwrap_or("traefik").replace('"', "");
        Ok(BasicAuth {
            users,
            challenge: HeaderValue::try_from(format!("Basic realm=\"{realm}\""))
                .map_err(|_| "invalid realm".to_owned())?,
            header_field: header_field
                .map(|h| HeaderName::from_bytes(h.as_bytes()))
                .transpose()
                .map_err(|_| "invalid headerField".to_owned())?,
            remove_header,
            verified: RwLock::new(HashMap::new()),
        })
    }

    /// Lets authenticated requests through; answers 401 with a challenge otherwise.
    pub fn on_request(&self, req: &mut Request<Body>) -> Flow {
        let Some(user) = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| self.check(v))
        else {
            let mut resp = status(StatusCode::UNAUTHORIZED);
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, self.challenge.clone());
            return Flow::Respond(resp);
        };
        if let Some(field) = &self.header_field
            && let Ok(v) = HeaderValue::from_str(&user)
        {
            req.headers_mut().insert(field.clone(), v);
        }
        if self.remove_header {
            req.headers_mut().remove(header::AUTHORIZATION);
        }
        Flow::Continue
    }

    fn check(&self, value: &HeaderValue) -> Option<String> {
        if let Some(user) = self.verified.read().ok()?.get(value) {
            return Some(user.clone());
        }
        let encoded = value.to_str().ok()?.strip_prefix("Basic ")?.trim();
        let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
        let (user, password) = decoded.split_once(':')?;
        if !verify(self.users.get(user)?, password) {
            return None;
        }
        if let Ok(mut cache) = self.verified.write() {
            if cache.len() >= VERIFIED_CACHE {
                cache.clear();
            }
            cache.insert(value.clone(), user.to_owned());
        }
        Some(user.to_owned())
    }
}

/// Checks `password` against an htpasswd hash.
pub fn verify(hash: &str, password: &str) -> bool {
    if hash.starts_with("$2") {
        return bcrypt::verify(password, hash).unwrap_or(false);
    }
    if let Some(rest) = hash.strip_prefix("$apr1$") {
        let salt = rest.split('$').next().unwrap_or("");
        return constant_eq(apr1(password, salt).as_bytes(), hash.as_bytes());
    }
    if let Some(b64) = hash.strip_prefix("{SHA}") {
        let digest = sha1::Sha1::digest(password.as_bytes());
        return constant_eq(STANDARD.encode(digest).as_bytes(), b64.as_bytes());
    }
    false
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Apache's MD5-crypt (`$apr1$salt$hash`).
fn apr1(password: &str, salt: &str) -> String {
    let pw = password.as_bytes();
    let salt = &salt.as_bytes()[..salt.len().min(8)];
    let alt = Md5::new()
        .chain_update(pw)
        .chain_update(salt)
        .chain_update(pw)
        .finalize();
    let mut ctx = Md5::new()
        .chain_update(pw)
        .chain_update(b"$apr1$")
        .chain_update(salt);
    let mut left = pw.len();
    while left > 0 {
        ctx.update(&alt[..left.min(16)]);
        left = left.saturating_sub(16);
    }
    let mut i = pw.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&pw[..1]);
        }
        i >>= 1;
    }
    let mut fin = ctx.finalize();
    for round in 0..1000 {
        let mut c = Md5::new();
        if round & 1 == 1 {
            c.update(pw)
        } else {
            c.update(fin)
        }
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(pw);
        }
        if round & 1 == 1 {
            c.update(fin)
        } else {
            c.update(pw)
        }
        fin = c.finalize();
    }
    const ITOA: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = format!("$apr1${}$", String::from_utf8_lossy(salt));
    let mut push = |v: u32, n: usize| {
        let mut v = v;
        for _ in 0..n {
            out.push(ITOA[(v & 0x3f) as usize] as char);
            v >>= 6;
        }
    };
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        push(
            (u32::from(fin[a]) << 16) | (u32::from(fin[b]) << 8) | u32::from(fin[c]),
            4,
        );
    }
    push(u32::from(fin[11]), 2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htpasswd_formats() {
        // Vectors from `openssl passwd -apr1 -salt ...` and Python's hashlib.
        assert!(verify("$apr1$rOs5K1Sw$gkrZdyAEX.WaBZNeVYx1s/", "hunter2"));
        assert!(!verify("$apr1$rOs5K1Sw$gkrZdyAEX.WaBZNeVYx1s/", "hunter3"));
        assert!(verify(
            "$apr1$abc$IIW/V525X46ri30NUi0KL0",
            "a much longer password than sixteen bytes"
        ));
        assert!(verify("{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=", "hunter2"));
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        assert!(verify(&hash, "s3cret"));
        assert!(!verify(&hash, "s3cre"));
    }
}
