//! Loops forever on `/spin`; otherwise stamps `x-spin-plugin: ok`.

use wasmgate_plugin_sdk::{Action, Middleware, NoSettings, Request, export_middleware};

struct Spin;

#[inline(never)]
fn spin_forever() -> ! {
    let mut x: u64 = 0;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

impl Middleware for Spin {
    type Settings = NoSettings;
    fn new(_: NoSettings) -> Result<Self, String> {
        Ok(Spin)
    }
    fn on_request(&mut self, req: &Request) -> Action {
        if req.path() == "/spin" {
            spin_forever();
        }
        let _ = req.set_header("x-spin-plugin", "ok");
        Action::Continue
    }
}

export_middleware!(Spin);
