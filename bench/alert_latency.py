"""Benchmark: from a confirmed outage to the volunteers' alert, while the forum and the
helpdesk never answer (issue 12, point 3).

The real ``vigie run`` (its own process, every installed plugin) watches ``--services``
services, one http check each (``confirm: 2``, ``retry_interval: 0.5s``) on a local target
the benchmark switches from 200 to 503, one service at a time. The forum (Discourse's
API) and the desk (Zammad's API) are local servers that take every request and never
answer (the plugins give up after their 15 s timeout and the outbox retries them, again
and again); Apprise posts to a local ``json://`` receiver.

The latency of one alert runs from the moment the target answered the check's *second*
failing request (the one that confirms the outage) to the alert's arrival at the receiver:
it holds the result's trip back, the state machine, the incident transaction, the outbox
worker's wake-up and the Apprise POST. Target: every alert (the maximum) within 1 s.

    .venv/bin/python bench/alert_latency.py                  # 12 services, 2 runs
    .venv/bin/python bench/alert_latency.py --runs 1 --services 4
    .venv/bin/python bench/alert_latency.py --code /tmp/vigie-old   # another source tree

``--code`` runs the Vigie found in another source tree (e.g. ``git archive`` of an older
commit unpacked in /tmp) with this benchmark, to compare versions on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    # the repository root, not bench/ (bench/dashboard.py would shadow the dashboard package)
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import (
    MachineLoad,
    child_env,
    describe_machine,
    load_note,
    progress,
    spread,
)
from bench.targets import free_port

VIGIE = Path(sys.executable).with_name("vigie")
TARGET_S = 1.0


class Stage:
    """The local servers: the target, a forum and a desk that never answer, the receiver."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.failing: set[str] = set()
        #: path → times the target answered 503
        self.failures: dict[str, list[float]] = {}
        #: service name → arrival time of its first alert
        self.alerts: dict[str, float] = {}
        self.hanging = {"forum": 0, "desk": 0}
        self.calls = {"forum": 0, "desk": 0}
        self._never = asyncio.Event()
        self._runners: list = []
        self.ports: dict[str, int] = {}

    async def start(self) -> None:
        from aiohttp import web

        async def target(request: web.Request) -> web.Response:
            path = request.path.strip("/")
            if path in self.failing:
                self.failures.setdefault(path, []).append(time.time())
                return web.Response(status=503, text="down")
            return web.Response(text="ok")

        def silent(name: str):
            async def handler(request: web.Request) -> web.Response:
                await request.read()
                self.calls[name] += 1
                self.hanging[name] += 1
                try:
                    await self._never.wait()  # no answer, ever
                finally:
                    self.hanging[name] -= 1
                return web.Response(status=500)
            return handler

        async def receiver(request: web.Request) -> web.Response:
            payload = await request.json()
            title = str(payload.get("title", ""))
            for name in self.names:
                if name in title and title.startswith("🔴"):
                    self.alerts.setdefault(name, time.time())
            return web.Response(text="ok")

        apps = {"target": [web.get("/{path}", target)],
                "forum": [web.route("*", "/{tail:.*}", silent("forum"))],
                "desk": [web.route("*", "/{tail:.*}", silent("desk"))],
                "receiver": [web.post("/{tail:.*}", receiver)]}
        for name, routes in apps.items():
            app = web.Application()
            app.add_routes(routes)
            runner = web.AppRunner(app, shutdown_timeout=0.1)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.ports[name] = runner.addresses[0][1]
            self._runners.append(runner)

    async def stop(self) -> None:
        self._never.set()
        for runner in self._runners:
            await runner.cleanup()


def write_config(folder: Path, stage: Stage, services: int, port: int) -> None:
    lines = [
        "data_dir: data",
        f"server: {{listen: '127.0.0.1:{port}'}}",
        "scheduler: {spread_first_runs: false}",
        "store: {flush_interval: 0.5s}",
        f"site: {{public_url: 'http://127.0.0.1:{port}/'}}",
        "plugins: {blocked: [demo]}",
        f"forum: {{url: 'http://127.0.0.1:{stage.ports['forum']}', api_key: bench-forum-key,"
        " api_username: vigie, category: 7}",
        f"helpdesk: {{desk: {{type: zammad, url: 'http://127.0.0.1:{stage.ports['desk']}',"
        " token: bench-desk-token, customer: vigie@example.org}}",
        # storm control would hold the third alert on purpose: one alert per incident here
        f"notifications: {{urls: [{{url: 'json://127.0.0.1:{stage.ports['receiver']}/v'}}],"
        " storm: {enabled: false}}",
        "services:",
    ]
    for i in range(services):
        lines += [f"  - id: s{i}", f"    name: Service{i:03d}", "    checks:",
                  f"      - {{id: web, kind: http, url: 'http://127.0.0.1:"
                  f"{stage.ports['target']}/s{i}', interval: 5s, retry_interval: 0.5s,"
                  " confirm: 2}"]
    (folder / "vigie.yaml").write_text("\n".join(lines) + "\n")


async def wait_until(condition, timeout: float, proc) -> bool:
    """Poll ``condition`` (every 20 ms); False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.returncode is not None:
            raise SystemExit(f"vigie run exited with {proc.returncode}")
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def all_checks_up(port: int, services: int) -> bool:
    """Every ``vigie_check_up`` sample of ``/metrics`` is 1."""
    import aiohttp

    try:
        async with aiohttp.ClientSession() as http, \
                http.get(f"http://127.0.0.1:{port}/metrics") as response:
            text = await response.text()
    except aiohttp.ClientError:
        return False
    samples = [line for line in text.splitlines() if line.startswith("vigie_check_up{")]
    return len(samples) == services and all(line.endswith(" 1.0") for line in samples)


async def one_run(services: int, gap: float, patience: float, code: Path | None) -> dict:
    """Start Vigie, fail each service in turn, return the latencies (None: no alert
    within ``patience``) and how many forum and desk calls hung meanwhile."""
    stage = Stage([f"Service{i:03d}" for i in range(services)])
    await stage.start()
    port = free_port()
    env = child_env()
    if code is not None:
        env["PYTHONPATH"] = str(code)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    with tempfile.TemporaryDirectory(prefix="vigie-bench-alerts-") as tmp:
        folder = Path(tmp)
        write_config(folder, stage, services, port)
        proc = await asyncio.create_subprocess_exec(
            str(VIGIE), "-c", str(folder / "vigie.yaml"), "--log-level", "error", "run",
            cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        load = MachineLoad().start()
        load.track(proc.pid)
        latencies, hanging = [], []
        try:
            deadline = time.monotonic() + 120
            while not await all_checks_up(port, services):
                if proc.returncode is not None or time.monotonic() > deadline:
                    raise SystemExit("vigie run did not get every check up in 2 minutes")
                await asyncio.sleep(0.2)
            for i, name in enumerate(stage.names):
                path = f"s{i}"
                stage.failing.add(path)
                if await wait_until(lambda name=name: name in stage.alerts, patience, proc):
                    confirmed = stage.failures[path][1]  # the second failure confirms
                    latencies.append(stage.alerts[name] - confirmed)
                else:
                    latencies.append(None)
                hanging.append(stage.hanging["forum"] + stage.hanging["desk"])
                await asyncio.sleep(gap)  # the forum and desk calls pile up meanwhile
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 60)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            calls = dict(stage.calls)
            await stage.stop()
        return {"latencies": latencies, "hanging": hanging, "calls": calls,
                "load": load.stop()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=12,
                        help="services taken down one after the other (default 12)")
    parser.add_argument("--runs", type=int, default=2, help="Vigie starts (default 2)")
    parser.add_argument("--gap", type=float, default=2.0,
                        help="seconds between two outages (default 2)")
    parser.add_argument("--patience", type=float, default=120.0,
                        help="seconds to wait for one alert before counting it missing "
                             "(default 120)")
    parser.add_argument("--code", type=Path, default=None,
                        help="run the Vigie of this source tree instead of this one")
    args = parser.parse_args()
    progress(f"machine: {describe_machine()}")
    runs = []
    for run in range(args.runs):
        progress(f"run {run + 1}/{args.runs}: {args.services} outages, forum and desk silent")
        runs.append(asyncio.run(one_run(args.services, args.gap, args.patience, args.code)))
    latencies = [x for r in runs for x in r["latencies"]]
    ms = sorted(x * 1000 for x in latencies if x is not None)
    missing = sum(x is None for x in latencies)
    print(f"confirmed outage → volunteers' alert, forum and desk never answering "
          f"({len(latencies)} outages, {args.runs} runs of {args.services} services"
          f"{', code: ' + str(args.code) if args.code else ''})")
    if ms:
        p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
        print(f"  latency: median {statistics.median(ms):.0f} ms, p90 {p90:.0f} ms, "
              f"max {ms[-1]:.0f} ms")
        worst = spread(max(x for x in r["latencies"] if x is not None) * 1000
                       for r in runs if any(x is not None for x in r["latencies"]))
        print(f"  worst alert per run: {worst.fmt(0, 'ms')}")
    if missing:
        print(f"  {missing} alert(s) not received within {args.patience:.0f} s")
    print(f"  forum and desk requests left unanswered when each alert arrived: median "
          f"{statistics.median(h for r in runs for h in r['hanging']):.0f}, max "
          f"{max(h for r in runs for h in r['hanging'])}; requests per run: forum "
          f"{spread(r['calls']['forum'] for r in runs).fmt()}, desk "
          f"{spread(r['calls']['desk'] for r in runs).fmt()} (none answered)")
    print(f"  {load_note([r['load'] for r in runs])}")
    met = not missing and ms[-1] / 1000 < TARGET_S
    print(f"target: every alert within {TARGET_S:.0f} s: {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
