//! Replaces every occurrence of a string in response bodies (within the
//! plugin's body cap). Only bodies the gateway buffered for the plugin are
//! seen; compressed bodies (`content-encoding`) and content types not
//! listed are left alone.

use wasmgate_plugin_sdk::{HttpError, Middleware, Request, Response, export_middleware, log};

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Settings {
    /// The text to replace.
    from: String,
    /// Its replacement.
    #[serde(default)]
    to: String,
    /// Content-type prefixes whose bodies are rewritten.
    #[serde(default = "default_types")]
    content_types: Vec<String>,
}

fn default_types() -> Vec<String> {
    vec!["text/".into(), "application/json".into()]
}

struct BodyRewrite {
    settings: Settings,
}

/// Replaces every non-overlapping `from` in `body`; `None` when absent.
fn replace(body: &[u8], from: &[u8], to: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut last = 0;
    let mut i = 0;
    while i + from.len() <= body.len() {
        if &body[i..i + from.len()] == from {
            out.extend_from_slice(&body[last..i]);
            out.extend_from_slice(to);
            i += from.len();
            last = i;
        } else {
            i += 1;
        }
    }
    if last == 0 {
        return None;
    }
    out.extend_from_slice(&body[last..]);
    Some(out)
}

impl Middleware for BodyRewrite {
    type Settings = Settings;

    fn new(settings: Settings) -> Result<Self, String> {
        if settings.from.is_empty() {
            return Err("from must not be empty".into());
        }
        Ok(BodyRewrite { settings })
    }

    fn on_response(&mut self, _req: &Request, resp: &Response) {
        if resp
            .header("content-encoding")
            .is_some_and(|e| e != "identity")
        {
            return;
        }
        let ct = resp.header("content-type").unwrap_or_default();
        if !self
            .settings
            .content_types
            .iter()
            .any(|t| ct.starts_with(t.as_str()))
        {
            return;
        }
        let body = match resp.body() {
            Ok(b) => b,
            Err(HttpError::Unavailable) => {
                log::debug("response body not buffered for this plugin; left as is");
                return;
            }
            Err(e) => {
                log::warn(&format!("cannot read the response body: {e:?}"));
                return;
            }
        };
        let s = &self.settings;
        if let Some(new) = replace(&body, s.from.as_bytes(), s.to.as_bytes())
            && let Err(e) = resp.set_body(&new)
        {
            log::warn(&format!("rewritten body refused: {e:?}"));
        }
    }
}

export_middleware!(BodyRewrite);
