//! wasmgate binary.
fn main() {}
