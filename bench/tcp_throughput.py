#!/usr/bin/env python3
"""TCP throughput of a large transfer through wasmgate, as a ratio of direct loopback.

    bench/tcp_throughput.py [--gib 2] [--rounds 3] [--binary target/release/wasmgate]

A sink backend reads until EOF and answers with the byte count; the client sends the data in
1 MiB writes, half-closes, and waits for the count. Three ways, interleaved, median of the
rounds: straight to the backend, through wasmgate's zero-copy relay (splice), and through its
buffered copy (WASMGATE_NO_SPLICE=1). wasmgate runs one worker thread
(TOKIO_WORKER_THREADS=1) on a `HostSNI(`*`)` TCP router.
"""

import argparse
import multiprocessing
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CHUNK = 1 << 20


def sink(listener):
    while True:
        conn, _ = listener.accept()
        total = 0
        while True:
            data = conn.recv(CHUNK)
            if not data:
                break
            total += len(data)
        conn.sendall(total.to_bytes(8, "big"))
        conn.close()


def transfer(port, size):
    payload = b"\0" * CHUNK
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as s:
        sent = 0
        while sent < size:
            s.sendall(payload)
            sent += CHUNK
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while len(reply) < 8:
            more = s.recv(8 - len(reply))
            if not more:
                break
            reply += more
    elapsed = time.perf_counter() - start
    got = int.from_bytes(reply, "big") if len(reply) == 8 else -1
    if got != size:
        raise SystemExit(f"backend got {got} bytes, expected {size}")
    return size / elapsed


def start_gateway(binary, backend_port, splice):
    d = tempfile.mkdtemp(prefix="wasmgate-tcp-bench-")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with open(os.path.join(d, "static.yml"), "w") as f:
        f.write(
            f'entryPoints:\n  tcp:\n    address: "127.0.0.1:{port}"\n'
            "providers:\n  file:\n    filename: dynamic.yml\n"
        )
    with open(os.path.join(d, "dynamic.yml"), "w") as f:
        f.write(
            "tcp:\n  routers:\n    all:\n      rule: \"HostSNI(`*`)\"\n      service: sink\n"
            "  services:\n    sink:\n      loadBalancer:\n        servers:\n"
            f'          - address: "127.0.0.1:{backend_port}"\n'
        )
    env = dict(os.environ, TOKIO_WORKER_THREADS="1", RUST_LOG="warn")
    if not splice:
        env["WASMGATE_NO_SPLICE"] = "1"
    proc = subprocess.Popen(
        [binary, "run", "--config", os.path.join(d, "static.yml")],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("wasmgate did not start")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--gib", type=float, default=2.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--binary", default="target/release/wasmgate")
    args = p.parse_args()
    size = int(args.gib * (1 << 30)) // CHUNK * CHUNK

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    backend_port = listener.getsockname()[1]
    backend = multiprocessing.Process(target=sink, args=(listener,), daemon=True)
    backend.start()

    splice_gw, splice_port = start_gateway(args.binary, backend_port, True)
    copy_gw, copy_port = start_gateway(args.binary, backend_port, False)
    ways = {"direct": backend_port, "wasmgate splice": splice_port, "wasmgate copy": copy_port}
    results = {name: [] for name in ways}
    try:
        for name, port in ways.items():  # warm-up
            transfer(port, 64 * CHUNK)
        for r in range(args.rounds):
            order = list(ways.items())
            order = order[r % len(order):] + order[: r % len(order)]
            for name, port in order:
                results[name].append(transfer(port, size))
    finally:
        splice_gw.kill()
        copy_gw.kill()
        backend.kill()

    direct = statistics.median(results["direct"])
    print(f"# TCP throughput, {size / (1 << 30):.1f} GiB per transfer, median of {args.rounds}")
    print(f"# {platform.node()} {platform.release()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    print("| path | GiB/s | ratio to direct |")
    print("| --- | --- | --- |")
    for name in ways:
        m = statistics.median(results[name])
        print(f"| {name} | {m / (1 << 30):.2f} | {m / direct:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
