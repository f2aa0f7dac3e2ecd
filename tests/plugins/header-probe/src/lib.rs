//! Tries the header calls a plugin author gets wrong and reports what the
//! host answered, in `x-probe-*` headers: a name that is not a token, a
//! value with a line break, one name spelled in two cases, a batch with one
//! bad header in it, and changing the request during `on-response`
//! (read-only there). A request with `x-probe-set-body` gets that text as
//! its body, whether or not the gateway buffered the body for the plugin.
//!
//! Response headers queued in `on-request`: `x-probe-queue: a=1;b=2` queues
//! those pairs (and a refused batch, whose outcome is queued as
//! `x-probe-queue-refused`); `x-probe-respond: 418` then answers with that
//! status instead of calling the service; `x-probe-trap` traps after
//! queuing. `on-response` reports the `x-probe-order` it finds (queued
//! headers are set before it runs) and what queuing from there answers.

use wasmgate_plugin_sdk::{
    Action, HttpError, Middleware, NoSettings, Request, Response, export_middleware,
};

struct Probe {
    /// Requests seen by this instance, stamped in `x-probe-round`.
    round: u64,
}

fn outcome(r: Result<(), HttpError>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(HttpError::Invalid(why)) => format!("invalid: {why}"),
        Err(HttpError::ReadOnly) => "read-only".into(),
        Err(e) => format!("{e:?}"),
    }
}

impl Middleware for Probe {
    type Settings = NoSettings;
    fn new(_: NoSettings) -> Result<Self, String> {
        Ok(Probe { round: 0 })
    }
    fn on_request(&mut self, req: &Request) -> Action {
        let bad_name = outcome(req.set_header("bad name", "v"));
        let bad_value = outcome(req.set_header("x-probe-value", "a\r\nb"));
        // The same name twice, in two spellings: one header, two values.
        let _ = req.append_header("X-Probe-Twice", "1");
        let _ = req.append_header("x-probe-twice", "2");
        let _ = req.set_header("x-probe-bad-name", &bad_name);
        let _ = req.set_header("x-probe-bad-value", &bad_value);
        // A batch with a bad name changes nothing; a good one sets all, the
        // last value of a repeated name winning.
        let batch = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect()
        };
        let refused = outcome(req.set_headers(&batch(&[("x-batch-a", "0"), ("bad name", "v")])));
        self.round += 1;
        let round = self.round.to_string();
        let set = outcome(req.set_headers(&batch(&[
            ("x-batch-a", "1"),
            ("X-Batch-B", "2"),
            ("x-batch-a", "3"),
            ("x-probe-round", &round),
            ("x-probe-batch-refused", &refused),
        ])));
        let _ = req.set_header("x-probe-batch", &set);
        if let Some(body) = req.header("x-probe-set-body") {
            let _ = req.set_body(body.as_bytes());
        }
        if let Some(spec) = req.header("x-probe-queue") {
            let pairs: Vec<(String, String)> = spec
                .split(';')
                .filter_map(|p| p.split_once('='))
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect();
            let refused = outcome(
                req.set_response_headers(&batch(&[("x-probe-never", "1"), ("bad name", "v")])),
            );
            let _ = req.set_response_headers(&pairs);
            let _ = req.set_response_headers(&batch(&[("x-probe-queue-refused", &refused)]));
        }
        if req.header("x-probe-trap").is_some() {
            panic!("x-probe-trap");
        }
        if let Some(status) = req.header("x-probe-respond").and_then(|s| s.parse().ok()) {
            return Action::respond(status, "text/plain", "answered by the probe");
        }
        Action::Continue
    }
    fn on_response(&mut self, req: &Request, resp: &Response) {
        let write_request = outcome(req.set_header("x-late", "1"));
        let _ = resp.set_header("x-probe-request-in-response", &write_request);
        let batch_request = outcome(req.set_headers(&[("x-late".into(), "1".into())]));
        let _ = resp.set_headers(&[
            ("x-probe-batch-request-in-response".into(), batch_request),
            ("x-probe-round".into(), self.round.to_string()),
        ]);
        let queue_in_response = outcome(req.set_response_headers(&[("x-late".into(), "1".into())]));
        let order = resp.header("x-probe-order").unwrap_or_default();
        let _ = resp.set_headers(&[
            ("x-probe-queue-in-response".into(), queue_in_response),
            ("x-probe-order-seen".into(), order),
        ]);
        let _ = resp.append_header("x-probe-twice", "3");
        let _ = resp.append_header("X-PROBE-TWICE", "4");
    }
}

export_middleware!(Probe);
