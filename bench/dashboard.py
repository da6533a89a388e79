"""Benchmark of the status page: wrk against ``/`` and ``/api/v1/summary.json``.

100 services with 90 days of history (rollups, status changes, two days of raw results,
incidents, maintenance, notices) in SQLite; the dashboard served the production way
(``vigie dashboard``'s listener and settings; ``--server waitress`` for the waitress it used
before) in its own process; wrk at 64 connections.
Aim: at least 2,000 requests/s and a 99th percentile under 50 ms.

    .venv/bin/python bench/dashboard.py [--duration 10] [--connections 64] [--threads 8]

Not a timed test: it prints the figures (and exits 1 when an aim is missed with --check).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

AIM_RPS = 2000
AIM_P99_MS = 50.0


def services(count: int) -> list[tuple]:
    """The seed's five services, then generated ones up to ``count``."""
    from tests.dashboard import seed

    out = list(seed.SERVICES)
    groups = ["hebergement", "communication", None]
    for index in range(len(out) + 1, count + 1):
        out.append((f"svc-{index:03d}", f"Service numéro {index}", f"Service number {index}",
                    groups[index % 3], None))
    return out


def prepare(folder: Path, count: int) -> Path:
    """Write the configuration and seed the database; return the configuration path."""
    from dashboard import _load_config
    from monitor.state import ServiceStatus
    from tests.dashboard import seed

    url = f"sqlite:///{folder / 'vigie.sqlite'}"
    listed = services(count)
    path = seed.write_config(folder, url, listed)
    config = _load_config(path)
    store = seed.prepare_store(url)
    now = time.time()
    store.sync_catalog(config)
    seed.seed_states(store, config, {s[0]: s[4] or ServiceStatus.OPERATIONAL for s in listed}, now)
    seed.seed_rollups(store, config, now)
    seed.seed_results(store, config, now, hours=48)
    seed.seed_incidents(store, now)
    store.dispose()
    return path


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(config_path: str, port: int, threads: int, server: str = "vigie") -> None:
    """Serve the dashboard as ``vigie dashboard`` does (:func:`monitor.web.serve`), or
    with waitress as it did before (``server="waitress"``, to compare)."""
    import logging

    from dashboard import create_app

    logging.basicConfig(level=logging.WARNING)
    app = create_app(config_path)
    if server == "waitress":
        from waitress import serve as waitress_serve

        logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # queueing is what we measure
        waitress_serve(app, host="127.0.0.1", port=port, threads=threads, ident="vigie",
                       clear_untrusted_proxy_headers=True, _quiet=True)
    else:
        from monitor.web import serve as vigie_serve

        vigie_serve(app, "127.0.0.1", port, threads)


def wait_until_up(url: str, timeout: float = 30.0) -> None:
    """Poll ``url`` until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the dashboard did not start at {url}")


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, duration: int, connections: int, headers: list[str]) -> dict[str, float]:
    """Run wrk with latency statistics; return requests/s and p50/p99 in ms."""
    command = ["wrk", f"-t{min(4, connections)}", f"-c{connections}", f"-d{duration}s",
               "--latency", "--timeout", "5s"]
    for header in headers:
        command += ["-H", header]
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    percentiles = {p: _ms(v, u) for p, v, u in
                   re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    transfer = re.search(r"Transfer/sec:\s+(\S+)", output).group(1)
    return {"rps": rps, "p50": percentiles["50"], "p99": percentiles["99"],
            "non2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else "",
            "transfer": transfer}


def main() -> int:
    """Prepare, serve, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=8, help="worker threads")
    parser.add_argument("--server", choices=("vigie", "waitress"), default="vigie",
                        help="the listener of vigie dashboard, or waitress (as before)")
    parser.add_argument("--check", action="store_true", help="exit 1 when an aim is missed")
    parser.add_argument("--serve", nargs=2, metavar=("CONFIG", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), args.threads, args.server)
        return 0
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    folder = Path(tempfile.mkdtemp(prefix="vigie-bench-dashboard-"))
    started = time.perf_counter()
    config_path = prepare(folder, args.services)
    print(f"seeded {args.services} services, 90 days, in {time.perf_counter() - started:.1f}s")
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(config_path), str(port),
                               "--threads", str(args.threads), "--server", args.server],
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    missed = False
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/healthz")
        sizes = {}
        for path in ("/", "/api/v1/summary.json"):
            with urllib.request.urlopen(base + path) as response:  # also warms the cache
                sizes[path] = len(response.read())
        print(f"{args.server}, {args.threads} threads; wrk {args.connections} connections, "
              f"{args.duration}s each")
        print(f"{'path':<34} {'body':>9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}  aim")
        runs = [("/", [], "/"), ("/", ["Accept-Encoding: gzip"], "/ (gzip, as browsers ask)"),
                ("/api/v1/summary.json", [], "/api/v1/summary.json")]
        for path, headers, label in runs:
            result = wrk(base + path, args.duration, args.connections, headers)
            ok = result["rps"] >= AIM_RPS and result["p99"] < AIM_P99_MS and not result["non2xx"]
            missed |= not ok
            body = f"{sizes[path] // 1024} KiB" if not headers else "gzip"
            print(f"{label:<34} {body:>9} {result['rps']:>9.0f} {result['p50']:>8.2f} "
                  f"{result['p99']:>8.2f}  {'met' if ok else 'MISSED'}"
                  + (f"  ({result['non2xx']} errors)" if result["non2xx"] else "")
                  + (f"  socket errors: {result['socket_errors']}" if result["socket_errors"] else ""))
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    print(f"aims: >= {AIM_RPS} req/s and p99 < {AIM_P99_MS:.0f} ms at {args.connections} connections")
    # wrk, waitress and anything else running share the CPUs: say how busy they were
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
          "(wrk and the server run on the same machine)")
    return 1 if (missed and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
