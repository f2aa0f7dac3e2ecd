//! Checks `Authorization: Bearer <token>` with an auth service over
//! `outbound-http`: the service gets a `GET` of `authUrl` carrying the
//! client's `Authorization` header. A 2xx lets the request through and
//! copies the configured headers of the auth response (default `x-user`)
//! onto it; any other status answers 401. When the service cannot be
//! reached (not on the allowlist, timeout, connection error), the request
//! is answered with `failureStatus` (default 503): it never fails open.

use wasmgate_plugin_sdk::outbound_http::{self, RequestRecord};
use wasmgate_plugin_sdk::{Action, HttpResponse, Middleware, Request, export_middleware, log};

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Settings {
    /// The auth service's URL (`http://host[:port]/path`); its host must be
    /// on the plugin's `outbound-http` allowlist.
    auth_url: String,
    /// Headers of the auth response copied onto the request.
    #[serde(default = "default_forward")]
    forward_headers: Vec<String>,
    /// Timeout of the auth call in milliseconds.
    #[serde(default = "default_timeout")]
    timeout_ms: u32,
    /// Status answered when the auth service cannot be reached.
    #[serde(default = "default_failure_status")]
    failure_status: u16,
}

fn default_forward() -> Vec<String> {
    vec!["x-user".into()]
}

fn default_timeout() -> u32 {
    1000
}

fn default_failure_status() -> u16 {
    503
}

struct TokenAuth {
    settings: Settings,
}

fn respond(status: u16, extra: Option<(&str, &str)>, body: &str) -> Action {
    let mut headers = vec![(
        "content-type".to_owned(),
        "text/plain; charset=utf-8".to_owned(),
    )];
    if let Some((n, v)) = extra {
        headers.push((n.to_owned(), v.to_owned()));
    }
    Action::Respond(HttpResponse {
        status,
        headers,
        body: body.as_bytes().to_vec(),
    })
}

fn unauthorized() -> Action {
    respond(401, Some(("www-authenticate", "Bearer")), "unauthorized\n")
}

impl Middleware for TokenAuth {
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self, String> {
        if !settings.auth_url.starts_with("http://") {
            return Err(format!(
                "authUrl `{}` must be an http:// URL",
                settings.auth_url
            ));
        }
        if !(100..=999).contains(&settings.failure_status) {
            return Err(format!(
                "failureStatus {} is not valid",
                settings.failure_status
            ));
        }
        Ok(TokenAuth { settings })
    }

    fn on_request(&mut self, req: &Request) -> Action {
        let Some(auth) = req.header("authorization") else {
            return unauthorized();
        };
        let token = auth
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .unwrap_or_default();
        if token.is_empty() {
            return unauthorized();
        }
        let call = RequestRecord {
            method: "GET".into(),
            url: self.settings.auth_url.clone(),
            headers: vec![("authorization".into(), auth.clone())],
            body: None,
            timeout_ms: Some(self.settings.timeout_ms),
        };
        let resp = match outbound_http::send(&call) {
            Ok(r) => r,
            Err(e) => {
                log::error(&format!(
                    "auth service {} unreachable: {e:?}",
                    self.settings.auth_url
                ));
                return respond(
                    self.settings.failure_status,
                    None,
                    "authentication service unavailable\n",
                );
            }
        };
        if !(200..300).contains(&resp.status) {
            return unauthorized();
        }
        for name in &self.settings.forward_headers {
            // Never trust a client-sent copy of a forwarded header.
            let _ = req.remove_header(name);
            for (n, v) in resp
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                if let Err(e) = req.append_header(n, v) {
                    log::warn(&format!("cannot forward {n}: {e:?}"));
                }
            }
        }
        Action::Continue
    }
}

export_middleware!(TokenAuth);
