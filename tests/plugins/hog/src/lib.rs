//! Allocates without end on `/hog` (until the memory limit stops it);
//! keeps 1 MiB more on each `/leak` (memory that grows with traffic);
//! otherwise stamps `x-hog-plugin: ok`.

use wasmgate_plugin_sdk::{Action, Middleware, NoSettings, Request, export_middleware};

struct Hog {
    hoard: Vec<Vec<u8>>,
}

#[inline(never)]
fn hoard_forever(hoard: &mut Vec<Vec<u8>>) -> ! {
    loop {
        hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
    }
}

impl Middleware for Hog {
    type Settings = NoSettings;
    fn new(_: NoSettings) -> Result<Self, String> {
        Ok(Hog { hoard: Vec::new() })
    }
    fn on_request(&mut self, req: &Request) -> Action {
        if req.path() == "/hog" {
            hoard_forever(&mut self.hoard);
        }
        if req.path() == "/leak" {
            self.hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
        }
        let _ = req.set_header("x-hog-plugin", "ok");
        Action::Continue
    }
}

export_middleware!(Hog);
