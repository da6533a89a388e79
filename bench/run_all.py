"""Every benchmark, one after the other (``make bench``): about 40 minutes, or 7 with --quick.

Each benchmark prints its own figures (medians [min–max], the ratio against its reference
tool, the targets met or missed, and how busy the machine was); this runner adds a last
summary line per benchmark. Only 127.0.0.1 is ever contacted; every process a benchmark
starts is stopped when it ends.

    .venv/bin/python bench/run_all.py             # the full figures of docs/performance.md
    .venv/bin/python bench/run_all.py --quick     # a smoke run: fewer runs, smaller sizes
    .venv/bin/python bench/run_all.py --only throughput memory
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: name → (script, full arguments, quick arguments)
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "throughput": ("throughput.py", [], ["--runs", "1", "--checks", "5000", "--duration", "3"]),
    "pipeline": ("pipeline.py", [], ["--runs", "1"]),
    "metrics": ("metrics_render.py", [], ["--runs", "1", "--checks", "1000", "10000"]),
    "memory": ("memory.py", [], ["--runs", "1", "--checks", "0", "10000"]),
    "status_page": ("status_page.py", [], ["--runs", "1", "--duration", "4"]),
    "cycles": ("cycles.py", [], ["--quick"]),
    "rollups": ("rollups.py", [], ["--runs", "1", "--checks", "2000"]),
    "markup": ("markup.py", [], ["--runs", "1", "--random", "2", "--sizes", "20000"]),
    "alert_latency": ("alert_latency.py", [], ["--runs", "1", "--services", "4"]),
    "assistance_upload": ("assistance_upload.py", [], ["--rounds", "1", "--members", "10"]),
    "member_mail": ("member_mail.py", [], ["--subscribers", "2000", "--engines", "sqlite"]),
    "agent_footprint": ("agent_footprint.py", [],
                        ["--runs", "1", "--interval", "5", "--cycles", "1"]),
    "agents": ("agents.py", [], ["--quick", "--stores", "sqlite"]),
}


def main() -> int:
    """Run the chosen benchmarks; exit 1 if a target was missed, 2 if one failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller and fewer runs")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), default=list(BENCHMARKS))
    args = parser.parse_args()
    outcomes = []
    for name in args.only:
        script, full, quick = BENCHMARKS[name]
        command = [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        print(f"\n=== {name}: {' '.join(Path(c).name if i < 2 else c for i, c in enumerate(command))}",
              flush=True)
        started = time.monotonic()
        code = subprocess.call(command)
        outcomes.append((name, code, time.monotonic() - started))
    print("\n=== summary")
    for name, code, seconds in outcomes:
        verdict = {0: "every target met", 1: "a target MISSED (see above)"}.get(
            code, f"FAILED (exit {code})")
        print(f"{name:12} {seconds / 60:5.1f} min  {verdict}")
    codes = {code for _, code, _ in outcomes}
    return 2 if codes - {0, 1} else (1 if 1 in codes else 0)


if __name__ == "__main__":
    sys.exit(main())
