#!/usr/bin/env python3
"""Two wasmgate binaries head to head: the ratio of their requests/s, each loaded at the
same time as the other, both pinned to core 1.

The scheduler gives each gateway half of the core, so whatever slows the machine down slows
both alike: the ratio of their req/s is the ratio of what a request costs each, and it moves
by about 1% between runs where `bench/run`'s sequential ratios move by 10%. Use it to tell
whether a change made the request path cheaper: build the old binary, copy it aside, build
the new one, and compare them with the same plugin.

    bench/compare.py OLD_BINARY NEW_BINARY [--variant path-deny] [--runs 7] [--secs 5]

`--old-variant none` serves another variant from the old binary: with the same binary twice,
that is the head-to-head cost of a plugin. `--connections N` sets wrk's connections (50).

Variants are those of `bench/callgrind.py` (none, noop, noop-both, path-deny, header-stamp),
whose backend (nginx on core 0) and configurations it uses. It prints each run's ratio
(new / old) and their median. Needs nginx and wrk (bench/run installs them).
"""
import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import callgrind as cg  # noqa: E402  (its backend, configurations and variants)


def start(d: Path, binary: str, variant: str, port: int) -> subprocess.Popen:
    static = cg.config(d, variant, port)
    env = dict(os.environ, TOKIO_WORKER_THREADS="1")
    env.pop("RUST_BACKTRACE", None)
    p = subprocess.Popen(["taskset", "-c", "1", binary, "run", "--config", str(static)],
                         env=env)
    cg.wait_port(port)
    return p


def wrk(port: int, secs: int, conns: int, out: dict, key: str) -> None:
    o = subprocess.run(["taskset", "-c", "0", "wrk", "-t1", f"-c{conns}", f"-d{secs}s",
                        f"http://127.0.0.1:{port}/"], capture_output=True, text=True).stdout
    m = re.search(r"(\d+) requests in", o)
    out[key] = int(m.group(1)) if m else 0
    if err := cg.refused(o, port):
        out["error"] = err


def both(ports: dict, secs: int, conns: int) -> dict:
    out: dict = {}
    threads = [threading.Thread(target=wrk, args=(port, secs, conns, out, k))
               for k, port in ports.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if "error" in out:
        sys.exit(out["error"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--variant", default="path-deny", choices=list(cg.VARIANTS))
    ap.add_argument("--old-variant", choices=list(cg.VARIANTS),
                    help="variant the old binary serves (default: --variant)")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--secs", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="wasmgate-compare-") as tmp:
        d = Path(tmp)
        nginx = cg.backend(d)
        procs = []
        try:
            ports = {"old": 19970, "new": 19971}
            old_variant = a.old_variant or a.variant
            for key, binary, variant in (("old", a.old, old_variant), ("new", a.new, a.variant)):
                (d / key).mkdir()
                procs.append(start(d / key, binary, variant, ports[key]))
            ratios = []
            for r in range(a.runs):
                both(ports, 1, a.connections)
                out = both(ports, a.secs, a.connections)
                ratio = out["new"] / out["old"] if out["old"] else float("nan")
                ratios.append(ratio)
                print(f"run {r + 1}: new {out['new'] / a.secs:,.0f} req/s, old "
                      f"{out['old'] / a.secs:,.0f} req/s: {ratio:.3f}x", flush=True)
            print(f"{a.variant} vs {old_variant}, {a.connections} connections: new / old median {statistics.median(ratios):.3f}x "
                  f"({min(ratios):.3f} to {max(ratios):.3f})")
        finally:
            for p in procs:
                p.send_signal(signal.SIGINT)
                p.wait()
            nginx.terminate()
            nginx.wait()


if __name__ == "__main__":
    main()
