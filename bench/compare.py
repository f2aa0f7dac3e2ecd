#!/usr/bin/env python3
"""Two wasmgate binaries head to head: the ratio of their requests/s, each loaded at the
same time as the other, both pinned to core 1.

The scheduler gives each gateway half of the core, so whatever slows the machine down slows
both alike: the ratio of their req/s is the ratio of what a request costs each, and it moves
by about 1% between runs where `bench/run`'s sequential ratios move by 10%. Use it to tell
whether a change made the request path cheaper: build the old binary, copy it aside, build
the new one, and compare them with the same plugin.

    bench/compare.py OLD_BINARY NEW_BINARY [--variant path-deny] [--runs 7] [--secs 5]

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


def wrk(port: int, secs: int, out: dict, key: str) -> None:
    o = subprocess.run(["taskset", "-c", "0", "wrk", "-t1", "-c50", f"-d{secs}s",
                        f"http://127.0.0.1:{port}/"], capture_output=True, text=True).stdout
    m = re.search(r"(\d+) requests in", o)
    out[key] = int(m.group(1)) if m else 0


def both(ports: dict, secs: int) -> dict:
    out: dict = {}
    threads = [threading.Thread(target=wrk, args=(port, secs, out, k))
               for k, port in ports.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--variant", default="path-deny", choices=list(cg.VARIANTS))
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--secs", type=int, default=5)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="wasmgate-compare-") as tmp:
        d = Path(tmp)
        nginx = cg.backend(d)
        procs = []
        try:
            ports = {"old": 19970, "new": 19971}
            for key, binary in (("old", a.old), ("new", a.new)):
                (d / key).mkdir()
                procs.append(start(d / key, binary, a.variant, ports[key]))
            ratios = []
            for r in range(a.runs):
                both(ports, 1)
                out = both(ports, a.secs)
                ratio = out["new"] / out["old"] if out["old"] else float("nan")
                ratios.append(ratio)
                print(f"run {r + 1}: new {out['new'] / a.secs:,.0f} req/s, old "
                      f"{out['old'] / a.secs:,.0f} req/s: {ratio:.3f}x", flush=True)
            print(f"{a.variant}: new / old median {statistics.median(ratios):.3f}x "
                  f"({min(ratios):.3f} to {max(ratios):.3f})")
        finally:
            for p in procs:
                p.send_signal(signal.SIGINT)
                p.wait()
            nginx.terminate()
            nginx.wait()


if __name__ == "__main__":
    main()
