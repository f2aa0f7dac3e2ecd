//! Panics (a trap) on `/trap`; sleeps a millisecond on `/sleep` (a wait on
//! the host's clock); otherwise stamps `x-trap-plugin: ok`.

use wasmgate_plugin_sdk::{Action, Middleware, NoSettings, Request, export_middleware};

struct Trap;

#[inline(never)]
fn explode(path: &str) -> ! {
    panic!("asked to trap on {path}")
}

impl Middleware for Trap {
    type Settings = NoSettings;
    fn new(_: NoSettings) -> Result<Self, String> {
        Ok(Trap)
    }
    fn on_request(&mut self, req: &Request) -> Action {
        let path = req.path();
        if path == "/trap" {
            explode(&path);
        }
        if path == "/sleep" {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let _ = req.set_header("x-trap-plugin", "ok");
        Action::Continue
    }
}

export_middleware!(Trap);
