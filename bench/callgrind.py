#!/usr/bin/env python3
"""Instructions per request through the gateway, under callgrind: a figure that does not
move with the machine's load, unlike the req/s ratios of `bench/run` (about +-7% between
runs on a shared machine).

For each variant (no plugin, and one plugin middleware) it starts the release wasmgate under
`valgrind --tool=callgrind` with instrumentation off, warms it up, counts only while
`wrk -t1 -c50` runs, and prints the user-space instructions per request and what each
plugin adds to the no-plugin figure. `--top N` also lists the N functions whose cost per
request changed most against no plugin. Kernel time is not counted (about 70% of the CPU
per request here), so a plugin's share of instructions is larger than its share of time.

    bench/callgrind.py [--secs 8] [--top 30] [none noop noop-both path-deny header-stamp]

Needs valgrind, nginx and wrk (bench/run installs them) and the builds bench/run uses. Under
valgrind the pooling allocator refuses some instance re-creations (mmap: EINVAL); a plugin
holding an instance per request in flight (noop-both) then re-creates instances, and its
figure includes that (the run says how many calls failed).
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
GATEWAY = TARGET / "release" / "wasmgate"
WASM = TARGET / "wasm-plugins" / "wasm32-wasip2" / "release"
BACKEND = 18090
VARIANTS = {
    "none": None,
    "noop": ("noop", {}),
    "noop-both": ("noop_both", {}),
    "path-deny": ("path_deny", {"deny": ["/admin", "/**/*.php"]}),
    "header-stamp": ("header_stamp", {"requestHeaders": {"x-stamp-1": "1"},
                                      "responseHeaders": {"x-stamp-out-1": "1"}}),
}
# The same plugins with `instancePerRequest: false`: an instance per call, not per request.
PER_CALL = {f"{v}-per-call": v for v in ("noop-both",)}
VARIANTS.update({k: VARIANTS[v] for k, v in PER_CALL.items()})


def wait_port(port: int, secs: float = 300) -> None:
    end = time.time() + secs
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"nothing listens on {port}")


def backend(d: Path) -> subprocess.Popen:
    conf = d / "nginx.conf"
    conf.write_text(f"""daemon off; worker_processes 1; pid {d}/nginx.pid;
error_log {d}/error.log error; events {{ worker_connections 1024; }}
http {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p;
keepalive_requests 100000000; keepalive_timeout 300s;
server {{ listen 127.0.0.1:{BACKEND}; location / {{ return 200 "ok"; }} }} }}
""")
    p = subprocess.Popen(["taskset", "-c", "0", "nginx", "-p", str(d), "-e", str(d / "error.log"),
                          "-c", str(conf)])
    wait_port(BACKEND)
    return p


def config(d: Path, variant: str, port: int) -> Path:
    (d / "static.yml").write_text(f"""entryPoints:
  web:
    address: "127.0.0.1:{port}"
providers:
  file:
    filename: dynamic.yml
log:
  level: ERROR
plugins:
  cacheDir: "{d.parent / 'cache'}"
""")
    lines = ["http:", "  routers:", "    all:", '      rule: "PathPrefix(`/`)"',
             "      service: backend"]
    plugin = VARIANTS[variant]
    if plugin:
        name, settings = plugin
        lines += ['      middlewares: ["m"]', "  middlewares:", "    m:",
                  f"      plugin: {json.dumps({name: settings})}"]
    lines += ["  services:", "    backend:", "      loadBalancer:", "        servers:",
              f'          - url: "http://127.0.0.1:{BACKEND}"']
    if plugin:
        source = {"source": str(WASM / f"{name}.wasm"), "limits": {"maxInstances": 64}}
        if variant in PER_CALL:
            source["instancePerRequest"] = False
        lines += ["plugins:", f"  {name}: {json.dumps(source)}"]
    (d / "dynamic.yml").write_text("\n".join(lines) + "\n")
    return d / "static.yml"


def wrk(port: int, secs: int, check: bool = False) -> int:
    out = subprocess.run(["taskset", "-c", "0", "wrk", "-t1", "-c50", f"-d{secs}s",
                          f"http://127.0.0.1:{port}/"], capture_output=True, text=True).stdout
    if check and (err := refused(out, port)):
        sys.exit(err)
    return int(re.search(r"(\d+) requests in", out).group(1))


def refused(wrk_output: str, port: int) -> str | None:
    """What is wrong when the gateway on `port` answered anything but 200: a variant whose
    plugin did not load serves fast 404s, which must not pass for a measurement."""
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk_output)
    return m and (f"the gateway on port {port} answered {m[1]} requests with an error "
                  "status: is the plugin built (CARGO_TARGET_DIR)?")


def measure(d: Path, variant: str, port: int, secs: int) -> tuple[Path, int, int]:
    static = config(d, variant, port)
    env = dict(os.environ, TOKIO_WORKER_THREADS="1")
    # Fill the artifact cache without valgrind (Cranelift under valgrind takes minutes).
    p = subprocess.Popen([str(GATEWAY), "run", "--config", str(static)], env=env)
    wait_port(port)
    try:
        # Under valgrind the first calls overrun their time limit; here none may fail.
        wrk(port, 1, check=True)
    finally:
        p.send_signal(signal.SIGINT)
        p.wait()
    out, log = d / f"callgrind.{variant}", d / f"log.{variant}"
    p = subprocess.Popen(["taskset", "-c", "1", "valgrind", "--tool=callgrind",
                          "--instr-atstart=no", f"--callgrind-out-file={out}",
                          str(GATEWAY), "run", "--config", str(static)],
                         env=env, stderr=log.open("w"))
    wait_port(port)
    wrk(port, 3)
    subprocess.run(["callgrind_control", "-i", "on", str(p.pid)], capture_output=True)
    n = wrk(port, secs)
    subprocess.run(["callgrind_control", "-i", "off", str(p.pid)], capture_output=True)
    p.send_signal(signal.SIGINT)
    p.wait()
    failed = sum("plugin call failed" in line for line in log.open())
    return out, n, failed


def per_function(path: Path, n: int) -> dict[str, float]:
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", str(path)],
                         capture_output=True, text=True).stdout
    costs: dict[str, float] = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)", line)
        if m:
            name = re.sub(r"'\d+$", "", re.sub(r" \[.*\]$", "", m.group(2)))
            costs[name] = costs.get(name, 0) + int(m.group(1).replace(",", "")) / n
    return costs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("variants", nargs="*", default=list(VARIANTS))
    ap.add_argument("--secs", type=int, default=8)
    ap.add_argument("--top", type=int, default=0)
    a = ap.parse_args()
    variants = ["none"] + [v for v in a.variants if v != "none"]
    with tempfile.TemporaryDirectory(prefix="wasmgate-callgrind-") as tmp:
        d = Path(tmp)
        nginx = backend(d)
        try:
            costs = {}
            for i, v in enumerate(variants):
                vd = d / v
                vd.mkdir()
                path, n, failed = measure(vd, v, 19600 + i, a.secs)
                costs[v] = per_function(path, n)
                total = costs[v].pop("PROGRAM TOTALS", 0)
                base = costs["none"].get("total", total)
                costs[v]["total"] = total
                added = "" if v == "none" else f", {total - base:+,.0f} added by the plugin"
                note = f" ({failed} plugin calls failed under valgrind)" if failed else ""
                print(f"{v}: {total:,.0f} instructions per request over {n:,} requests"
                      f"{added}{note}", flush=True)
                if a.top and v != "none":
                    diff = {k: c - costs["none"].get(k, 0) for k, c in costs[v].items()
                            if k != "total"}
                    for k, c in sorted(diff.items(), key=lambda x: -abs(x[1]))[:a.top]:
                        print(f"  {c:+8.0f}  {k[:150]}")
        finally:
            nginx.terminate()


if __name__ == "__main__":
    main()
