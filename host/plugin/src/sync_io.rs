//! Synchronous `wasi:io` for plugins that need no other I/O, so the gateway
//! can call them without a fiber.
//!
//! wasmtime calls a component synchronously only when none of its imports is
//! an async host function, and `wasmtime-wasi` defines the blocking parts of
//! `wasi:io` (`poll`, `pollable.block`, the `blocking-*` stream methods, the
//! stream destructors) as async. Every component built with Rust's standard
//! library imports some of them, if only to flush stderr after a panic
//! message. A plugin's streams are its stdio, which the host answers at once
//! (see `state::LogStream`), so this module shadows those functions with
//! synchronous versions that run the same host code and return when it is
//! ready at the first poll. What would have to wait (a `sleep`, say) traps
//! with a message that says so: a synchronous call holds its thread, and
//! only plugins granted `kv` or `outbound-http` are called asynchronously.
//!
//! A synchronous call runs the guest on the calling thread's stack rather
//! than on a fiber's: wasmtime stops the guest at `max_wasm_stack` (512 KiB
//! by default) below the stack pointer of the call, which tokio's worker
//! threads (2 MiB) leave room for.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource, ResourceType};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, DynPollable, StreamResult};
use wasmtime_wasi_io::bindings::wasi::io::{poll, streams};

use crate::state::HostState;

/// The `wasi:io` version `wasmtime-wasi` defines; guests importing any
/// 0.2.x version link to it.
const WASI_IO: &str = "0.2.12";

/// Runs `fut` to its first poll: its output if it is ready, else a trap.
fn now<F: Future>(what: &str, fut: F) -> wasmtime::Result<F::Output> {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Ok(v),
        Poll::Pending => Err(wasmtime::Error::msg(format!(
            "`{what}` would wait: a plugin without the kv or outbound-http grant runs \
             synchronously on a gateway thread and cannot wait for I/O or time"
        ))),
    }
}

/// A stream result as the guest sees it (`result<T, stream-error>`).
fn lower<T>(
    table: &mut wasmtime::component::ResourceTable,
    r: StreamResult<T>,
) -> wasmtime::Result<(Result<T, streams::StreamError>,)> {
    Ok((match r {
        Ok(v) => Ok(v),
        Err(e) => Err(streams::Host::convert_stream_error(table, e)?),
    },))
}

type Store<'a> = StoreContextMut<'a, HostState>;
type Out = Resource<DynOutputStream>;
type In = Resource<DynInputStream>;

/// Shadows the async functions of `wasi:io/poll` and `wasi:io/streams` in
/// `linker` (which already holds `wasmtime-wasi`'s) with synchronous ones.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    use poll::{Host as _, HostPollable as _};
    use streams::{HostInputStream as _, HostOutputStream as _};

    linker.allow_shadowing(true);
    let mut p = linker.instance(&format!("wasi:io/poll@{WASI_IO}"))?;
    p.func_wrap(
        "poll",
        |mut s: Store, (list,): (Vec<Resource<DynPollable>>,)| {
            Ok((now("poll", s.data_mut().table.poll(list))??,))
        },
    )?;
    p.func_wrap(
        "[method]pollable.block",
        |mut s: Store, (r,): (Resource<DynPollable>,)| {
            now("pollable.block", s.data_mut().table.block(r))?
        },
    )?;
    p.func_wrap(
        "[method]pollable.ready",
        |mut s: Store, (r,): (Resource<DynPollable>,)| {
            Ok((now("pollable.ready", s.data_mut().table.ready(r))??,))
        },
    )?;

    let mut st = linker.instance(&format!("wasi:io/streams@{WASI_IO}"))?;
    st.resource(
        "output-stream",
        ResourceType::host::<DynOutputStream>(),
        |mut s: Store, rep| {
            let table = &mut s.data_mut().table;
            now(
                "output-stream drop",
                streams::HostOutputStream::drop(table, Out::new_own(rep)),
            )?
        },
    )?;
    st.resource(
        "input-stream",
        ResourceType::host::<DynInputStream>(),
        |mut s: Store, rep| {
            let table = &mut s.data_mut().table;
            now(
                "input-stream drop",
                streams::HostInputStream::drop(table, In::new_own(rep)),
            )?
        },
    )?;
    st.func_wrap(
        "[method]output-stream.blocking-write-and-flush",
        |mut s: Store, (o, bytes): (Out, Vec<u8>)| {
            let table = &mut s.data_mut().table;
            let r = now(
                "blocking-write-and-flush",
                table.blocking_write_and_flush(o, bytes),
            )?;
            lower(table, r)
        },
    )?;
    st.func_wrap(
        "[method]output-stream.blocking-write-zeroes-and-flush",
        |mut s: Store, (o, n): (Out, u64)| {
            let table = &mut s.data_mut().table;
            let r = now(
                "blocking-write-zeroes-and-flush",
                table.blocking_write_zeroes_and_flush(o, n),
            )?;
            lower(table, r)
        },
    )?;
    st.func_wrap(
        "[method]output-stream.blocking-flush",
        |mut s: Store, (o,): (Out,)| {
            let table = &mut s.data_mut().table;
            let r = now("blocking-flush", table.blocking_flush(o))?;
            lower(table, r)
        },
    )?;
    st.func_wrap(
        "[method]output-stream.blocking-splice",
        |mut s: Store, (o, i, n): (Out, In, u64)| {
            let table = &mut s.data_mut().table;
            let r = now("blocking-splice", table.blocking_splice(o, i, n))?;
            lower(table, r)
        },
    )?;
    st.func_wrap(
        "[method]input-stream.blocking-read",
        |mut s: Store, (i, n): (In, u64)| {
            let table = &mut s.data_mut().table;
            let r = now("blocking-read", table.blocking_read(i, n))?;
            lower(table, r)
        },
    )?;
    st.func_wrap(
        "[method]input-stream.blocking-skip",
        |mut s: Store, (i, n): (In, u64)| {
            let table = &mut s.data_mut().table;
            let r = now("blocking-skip", table.blocking_skip(i, n))?;
            lower(table, r)
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
