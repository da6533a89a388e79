"""Benchmark: probe throughput side by side, Vigie's full pipeline against blackbox_exporter.

Both probe the same local nginx (``keepalive_timeout 0``: a new connection for every
check, for both) in the same run, at the same concurrency levels, alternating run by run
so both see the same machine:

- **Vigie**: the full pipeline (``bench/pipeline.py``: probe, runner, state machine,
  batched SQLite write, one /metrics render) running ``--checks`` http checks with a
  pool of ``concurrency`` workers; checks/s over the cycle, CPU of the whole Vigie
  process per check.
- **blackbox_exporter** (Debian's ``prometheus-blackbox-exporter``, installed with apt-get
  when missing, started by us on 127.0.0.1 with an ``http_2xx`` module) driven the way
  Prometheus drives it: ``concurrency`` concurrent ``GET /probe?target=…&module=http_2xx``
  (by ``wrk``, keep-alive to the exporter, as Prometheus does) for ``--duration`` seconds;
  probes/s, and the exporter's own CPU per probe (read from /proc through psutil). wrk
  checks every answer says ``probe_success 1``.

Neither side counts nginx's CPU; the blackbox side does not count wrk's either (in real
use Prometheus pays for scheduling, not the exporter), while Vigie's figure includes its
own scheduling, state, database writes and metrics.

    .venv/bin/python bench/throughput.py                       # 64 and 256, 3 runs each
    .venv/bin/python bench/throughput.py --concurrency 256 --runs 5 --checks 20000

Targets: Vigie at least 1.2 times blackbox_exporter's checks per second, and at most 0.7
times its CPU per check, in the same run.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import (
    MachineLoad,
    describe_machine,
    load_note,
    progress,
    ratio,
    spread,
)

TARGET_SPEED = 1.2
TARGET_CPU = 0.7

WRK_SCRIPT = """
failures = 0
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, "\\nprobe_success 1", 1, true) then
    failures = failures + 1
  end
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("failures")
  end
  io.write(string.format("VIGIE_BENCH failures=%d requests=%d errors=%d\\n", total,
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout))
end
"""


def run_blackbox(exporter: str, exporter_pid: int, target: str, concurrency: int,
                 duration: float, script: Path, load: MachineLoad) -> dict:
    """Drive blackbox_exporter with wrk for ``duration`` s; probes/s and CPU per probe."""
    import psutil

    proc = psutil.Process(exporter_pid)
    url = f"{exporter}/probe?module=http_2xx&target={target}"
    # a short warm-up, so the exporter's goroutines and buffers exist before we measure
    subprocess.run(["wrk", "-t1", f"-c{min(concurrency, 16)}", "-d1s", url],
                   capture_output=True, check=True)
    load.start()
    load.track(exporter_pid)
    before = proc.cpu_times()
    wall0 = time.perf_counter()
    out = subprocess.run(
        ["wrk", "-t2", f"-c{concurrency}", f"-d{duration:g}s", "--timeout", "15s",
         "-s", str(script), url], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - wall0
    after = proc.cpu_times()
    line = re.search(r"VIGIE_BENCH failures=(\d+) requests=(\d+) errors=(\d+)", out.stdout)
    if line is None:
        raise SystemExit(f"unexpected wrk output:\n{out.stdout}\n{out.stderr}")
    failures, requests, errors = map(int, line.groups())
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out.stdout).group(1))
    cpu = (after.user + after.system) - (before.user + before.system)
    return {"checks_per_s": rps, "cpu_us_per_check": cpu / max(1, requests) * 1e6,
            "requests": requests, "failures": failures + errors, "wall": wall,
            "rss_mb": proc.memory_info().rss / 2**20, "load": load.stop()}


def main() -> int:
    """Alternate Vigie and blackbox_exporter runs; print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--checks", type=int, default=10_000,
                        help="checks per Vigie run (default 10,000)")
    parser.add_argument("--duration", type=float, default=5.0,
                        help="seconds per blackbox_exporter run (default 5)")
    args = parser.parse_args()

    from bench.pipeline import run_once
    from bench.targets import (
        blackbox_binary,
        blackbox_exporter,
        blackbox_version,
        nginx_process,
    )

    binary = blackbox_binary()
    print(describe_machine())
    print(f"blackbox_exporter {blackbox_version(binary)} (Debian), wrk driving it; "
          f"Vigie: {args.checks:,} checks per run; {args.runs} runs per side and level, "
          "alternating")
    results: dict[tuple[str, int], list[dict]] = {}
    with nginx_process(workers=1) as (url, nginx_pid), blackbox_exporter() as (bb, bb_pid), \
            tempfile.TemporaryDirectory(prefix="vigie-bench-throughput-") as tmp:
        script = Path(tmp) / "count.lua"
        script.write_text(WRK_SCRIPT)
        target = f"{url}/ok.html"
        for run in range(args.runs):
            for level in args.concurrency:
                load = MachineLoad().start()
                load.track(nginx_pid)
                vigie = run_once(url, args.checks, level, Path(tmp) / f"v{run}-{level}", load)
                results.setdefault(("vigie", level), []).append(vigie)
                load = MachineLoad()
                blackbox = run_blackbox(bb, bb_pid, target, level, args.duration, script, load)
                results.setdefault(("blackbox", level), []).append(blackbox)
                progress(f"run {run + 1}/{args.runs} c={level}: vigie "
                         f"{vigie['checks_per_s']:.0f}/s {vigie['cpu_us_per_check']:.0f} µs, "
                         f"blackbox {blackbox['checks_per_s']:.0f}/s "
                         f"{blackbox['cpu_us_per_check']:.0f} µs "
                         f"({blackbox['failures']} failed)")
    missed = False
    print("medians [min–max]")
    print(f"{'concurrency':>11}  {'':10} {'checks/s':>22} {'µs CPU/check':>20}")
    for level in args.concurrency:
        v, b = results[("vigie", level)], results[("blackbox", level)]
        v_speed, b_speed = spread(r["checks_per_s"] for r in v), spread(r["checks_per_s"] for r in b)
        v_cpu, b_cpu = spread(r["cpu_us_per_check"] for r in v), spread(r["cpu_us_per_check"] for r in b)
        speed, cpu = ratio(v_speed, b_speed), ratio(v_cpu, b_cpu)
        print(f"{level:>11}  {'Vigie':10} {v_speed.fmt(0):>22} {v_cpu.fmt(0):>20}")
        print(f"{'':>11}  {'blackbox':10} {b_speed.fmt(0):>22} {b_cpu.fmt(0):>20}")
        ok_speed, ok_cpu = speed.median >= TARGET_SPEED, cpu.median <= TARGET_CPU
        missed |= not (ok_speed and ok_cpu)
        print(f"{'':>11}  {'ratio':10} {speed.fmt(2):>22} {cpu.fmt(2):>20}   "
              f"targets >= {TARGET_SPEED} ({'met' if ok_speed else 'MISSED'}), "
              f"<= {TARGET_CPU} ({'met' if ok_cpu else 'MISSED'})")
        failed = sum(r["failures"] for r in b)
        bad = sum(n for r in v for k, n in r["runs"].items() if not k.endswith(":up"))
        if failed or bad:
            print(f"{'':>11}  failed probes: Vigie {bad}, blackbox {failed}")
    print(f"Vigie RSS with {args.checks:,} checks: "
          f"{spread(r['rss_mb'] for k, rs in results.items() if k[0] == 'vigie' for r in rs).fmt(0)} MB; "
          f"blackbox_exporter RSS: "
          f"{spread(r['rss_mb'] for k, rs in results.items() if k[0] == 'blackbox' for r in rs).fmt(0)} MB")
    print(load_note([r["load"] for rs in results.values() for r in rs]))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
