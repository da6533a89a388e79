"""Benchmark: remote agents, the server's side and the agent's.

**Ingest** — a real ``vigie run`` (its own process, SQLite, then PostgreSQL) with
``--checks`` http checks run only from four remote locations (quorum 3), and one agent
token per location made by ``vigie agent-token add``. The script (standing for four
agents, one thread each, as an agent sends one batch at a time) pushes batches of
``--batch`` results to ``/api/agent/v1/results`` until ``--results`` results are taken;
the run ends once the server's writer has written every verdict. Measured: results taken
per second (first push to the last verdict written) and the server process's CPU per
result (user + system, from /proc): reading the batch, storing it once in
``location_results``, each location's damping, the consensus, and the verdict written as
the check's result.

**Agent against server** — the same ``--agent-checks`` http checks every ``--interval``
seconds against a local nginx (``keepalive_timeout 0``: a new connection per check), run
(a) by a ``vigie run`` itself, (b) by a real ``vigie agent`` (its own process, as the
``vigie`` script starts it) pushing to a ``vigie run`` whose checks run only at the
agent's location. Measured over ``--cycles`` cycles after a first one: CPU per check of
the process running the checks (the server's: probe, state, batched write; the agent's:
probe, spool on disk with an fsync per write, pushes), and, for (b), the receiving
server's CPU per result at that rate.

    .venv/bin/python bench/agents.py                  # about 10 minutes
    .venv/bin/python bench/agents.py --quick          # about 3 minutes

Every figure is the median of ``--runs`` runs [min–max], with how busy the machine was.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import (
    MachineLoad,
    child_env,
    cpu_seconds,
    describe_machine,
    load_note,
    progress,
    spread,
    use_repo_root,
)

use_repo_root()

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
LOCATIONS = ("l1", "l2", "l3", "l4")
#: give up on a phase after this many seconds (something broke, it is not slow)
PHASE_LIMIT = 600.0


def until(condition, what: str, every: float = 0.2) -> None:
    deadline = time.monotonic() + PHASE_LIMIT
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"not seen in {PHASE_LIMIT:.0f} s: {what}")
        time.sleep(every)


class Vigie:
    """A ``vigie run`` of the configuration ``text`` in ``folder`` (its database
    migrated first, by another process, as ``vigie db upgrade`` does)."""

    def __init__(self, folder: Path, text: str, store_url: str | None) -> None:
        from tests.conftest import free_port

        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        store = f"store: {{url: '{store_url}', flush_interval: 0.5s, batch_size: 1000}}" \
            if store_url else "store: {flush_interval: 0.5s, batch_size: 1000}"
        self.path = folder / "vigie.yaml"
        self.path.write_text(f"data_dir: data\nserver: {{listen: '127.0.0.1:{self.port}'}}\n"
                             f"{store}\nplugins: {{blocked: [demo]}}\n{text}")
        self.db = store_url or f"sqlite:///{folder / 'data' / 'vigie.sqlite'}"
        self._engine = None
        self.cli("db", "upgrade")
        self.proc = subprocess.Popen([sys.executable, "-m", "monitor", "-c", str(self.path),
                                      "run"], env=child_env(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        until(lambda: self.get("/healthz")[0] == 200 or self.proc.poll() is not None,
              "vigie run listens")
        if self.proc.poll() is not None:
            raise SystemExit(f"vigie run stopped: {self.proc.stderr.read()[-2000:]}")

    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "monitor", "-c", str(self.path), *args],
                              env=child_env(), capture_output=True, text=True, check=True)
        return done.stdout

    def token(self, name: str, location: str) -> str:
        return self.cli("agent-token", "add", name, "--location", location).strip() \
            .splitlines()[-1]

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            conn.request("GET", path)
            answer = conn.getresponse()
            return answer.status, answer.read()
        except OSError:
            return 0, b""

    def count(self, sql: str) -> int:
        """A count read from the database by this process."""
        if self._engine is None:
            import sqlalchemy as sa

            self._engine = sa.create_engine(self.db)
        from sqlalchemy import text

        with self._engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()

    def stop(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def settled(count, quiet: float = 1.5) -> float:
    """When ``count()`` last grew, once it has not grown for ``quiet`` seconds."""
    last, changed = count(), time.monotonic()
    deadline = changed + PHASE_LIMIT
    while time.monotonic() - changed < quiet:
        time.sleep(0.1)
        now = count()
        if now != last:
            last, changed = now, time.monotonic()
        if time.monotonic() > deadline:
            raise SystemExit("the server never stopped writing")
    return changed


def located_config(checks: int, url: str, locations: tuple[str, ...], interval: str,
                   extra: str = "") -> str:
    """``checks`` http checks of ``url`` run only at ``locations``."""
    lines = [extra, "scheduler: {concurrency: 64, spread_first_runs: true}",
             "agents: {pushes_per_minute: 60000}",
             "locations:", "  remote:",
             *(f"    - {{name: {name}}}" for name in locations), "services:"]
    where = ", ".join(locations)
    for s in range((checks + 99) // 100):
        lines.append(f"  - id: s{s}\n    name: S{s}\n    checks:")
        for c in range(min(100, checks - s * 100)):
            lines.append(f"      - {{id: c{c}, kind: http, url: '{url}?{s}-{c}', "
                         f"interval: {interval}, timeout: 10s, locations: [{where}]}}")
    return "\n".join(lines) + "\n"


# Ingest -------------------------------------------------------------------------------------


def batches(location: str, checks: int, count: int, size: int, first_seq: int,
            t0: float) -> list[bytes]:
    """``count`` pushes of ``size`` results each, every result a distinct run."""
    out, seq = [], first_seq
    for number in range(count):
        results = []
        for _ in range(size):
            check = seq % checks
            results.append({"seq": seq, "check": f"s{check // 100}/c{check % 100}",
                            # one run per check per ms and location: a distinct instant
                            "started_at": t0 + seq * 1e-3 + LOCATIONS.index(location) * 1e-4,
                            "duration": 0.004, "status": "up",
                            "samples": {"http_response_seconds": 0.004}})
            seq += 1
        out.append(json.dumps({"agent": location, "boot": "bench", "batch": number,
                               "sent_at": time.time(), "results": results}).encode())
    return out


def send_all(port: int, token: str, bodies: list[bytes], errors: list[str]) -> None:
    """One agent: each batch after the previous one is acknowledged."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "Accept": "application/json"}
    for body in bodies:
        conn.request("POST", "/api/agent/v1/results", body, headers)
        answer = conn.getresponse()
        text = answer.read()
        if answer.status != 200:
            errors.append(f"{answer.status} {text[:200]!r}")
            return
    conn.close()


def ingest_runs(store: str, checks: int, results: int, size: int, runs: int,
                folder: Path) -> dict:
    """The ingest runs on one database (see the module)."""
    schema = None
    store_url = None
    if store == "postgresql":
        import sqlalchemy as sa

        schema = f"bench_{uuid.uuid4().hex[:10]}"
        engine = sa.create_engine(POSTGRES)
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        store_url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
    vigie = None
    try:
        vigie = Vigie(folder / store, located_config(checks, "http://127.0.0.1:9/",
                                                     LOCATIONS, "1h"), store_url)
        tokens = {name: vigie.token(f"{name}-1", name) for name in LOCATIONS}
        per_agent = results // len(LOCATIONS) // size
        rates, cpus, loads = [], [], []
        t0 = time.time() - 300  # (today: no rollup of an older day is redone)
        for run in range(runs):
            bodies = {name: batches(name, checks, per_agent, size, 1 + run * per_agent * size,
                                    t0) for name in LOCATIONS}
            load = MachineLoad().start()
            load.track(vigie.proc.pid)
            cpu0, start, errors = cpu_seconds(vigie.proc.pid), time.monotonic(), []
            threads = [threading.Thread(target=send_all, args=(vigie.port, tokens[n],
                                                               bodies[n], errors))
                       for n in LOCATIONS]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if errors:
                raise SystemExit(f"a push was refused: {errors[0]}")
            taken = per_agent * size * len(LOCATIONS)
            # every verdict written: the checks' results stop growing (read from the
            # database, which costs the server nothing; its /metrics would)
            end = settled(lambda: vigie.count("SELECT count(*) FROM results"))
            wall = end - start
            cpus.append((cpu_seconds(vigie.proc.pid) - cpu0) / taken * 1e6)
            rates.append(taken / wall)
            loads.append(load.stop())
            progress(f"ingest {store} run {run + 1}/{runs}: {taken / wall:,.0f} results/s, "
                     f"{cpus[-1]:,.0f} µs CPU per result")
        stored = vigie.cli("agent-token", "list")
        return {"rate": spread(rates), "cpu": spread(cpus), "loads": loads,
                "taken": per_agent * size * len(LOCATIONS), "list": stored}
    finally:
        if vigie is not None:
            vigie.stop()
        if schema is not None:
            with engine.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()


# Agent against server -----------------------------------------------------------------------


def measured_window(pid: int, count, checks: int, cycles: int) -> tuple[float, int]:
    """CPU seconds of ``pid`` while ``count()`` grows by ``checks * cycles`` results."""
    before, cpu0 = count(), cpu_seconds(pid)
    until(lambda: count() >= before + checks * cycles, f"{cycles} cycles", every=0.5)
    return cpu_seconds(pid) - cpu0, count() - before


def server_alone(folder: Path, url: str, checks: int, interval: float, cycles: int,
                 runs: int) -> dict:
    """(a): ``vigie run`` runs the checks itself."""
    lines = ["scheduler: {concurrency: 64, spread_first_runs: true}", "services:"]
    for s in range((checks + 99) // 100):
        lines.append(f"  - id: s{s}\n    name: S{s}\n    checks:")
        for c in range(min(100, checks - s * 100)):
            lines.append(f"      - {{id: c{c}, kind: http, url: '{url}/ok.html?{s}-{c}', "
                         f"interval: {interval:g}s, timeout: 10s}}")
    vigie = Vigie(folder / "alone", "\n".join(lines) + "\n", None)
    try:
        def count() -> int:
            return vigie.count("SELECT count(*) FROM results")

        until(lambda: count() >= checks, "a first cycle")
        cpus, loads = [], []
        for run in range(runs):
            load = MachineLoad().start()
            load.track(vigie.proc.pid)
            cpu, done = measured_window(vigie.proc.pid, count, checks, cycles)
            loads.append(load.stop())
            cpus.append(cpu / done * 1e6)
            progress(f"server alone, window {run + 1}/{runs}: {cpus[-1]:,.0f} µs per check")
        return {"cpu": spread(cpus), "loads": loads}
    finally:
        vigie.stop()


def through_agent(folder: Path, url: str, checks: int, interval: float, cycles: int,
                  runs: int) -> dict:
    """(b): a ``vigie agent`` runs them and pushes to a ``vigie run``."""
    vigie = Vigie(folder / "receiver", located_config(checks, f"{url}/ok.html", ("lyon",),
                                                      f"{interval:g}s"), None)
    agent = None
    try:
        token_file = folder / "agent-token"
        token_file.write_text(vigie.token("lyon-1", "lyon") + "\n")
        token_file.chmod(0o600)
        agent = subprocess.Popen(
            [sys.executable, "-m", "monitor", "agent", "--server",
             f"http://127.0.0.1:{vigie.port}", "--token-file", str(token_file),
             "--data-dir", str(folder / "agent"), "--log-level", "warning",
             "--concurrency", "64"], env=child_env(), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)

        def count() -> int:
            return vigie.count("SELECT count(*) FROM location_results")

        until(lambda: count() >= checks, "a first cycle")
        agent_cpus, server_cpus, loads = [], [], []
        for run in range(runs):
            load = MachineLoad().start()
            load.track(agent.pid)
            load.track(vigie.proc.pid)
            server0 = cpu_seconds(vigie.proc.pid)
            cpu, done = measured_window(agent.pid, count, checks, cycles)
            server_cpus.append((cpu_seconds(vigie.proc.pid) - server0) / done * 1e6)
            loads.append(load.stop())
            agent_cpus.append(cpu / done * 1e6)
            progress(f"agent, window {run + 1}/{runs}: {agent_cpus[-1]:,.0f} µs per check "
                     f"(the receiving server: {server_cpus[-1]:,.0f} µs per result)")
        return {"cpu": spread(agent_cpus), "server": spread(server_cpus), "loads": loads}
    finally:
        if agent is not None:
            agent.send_signal(signal.SIGTERM)
            try:
                agent.wait(60)
            except subprocess.TimeoutExpired:
                agent.kill()
        vigie.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=1000,
                        help="checks of the ingest runs")
    parser.add_argument("--results", type=int, default=100_000,
                        help="results pushed in each ingest run")
    parser.add_argument("--batch", type=int, default=500, help="results per push")
    parser.add_argument("--agent-checks", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stores", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--quick", action="store_true",
                        help="20,000 results a run, 2 cycles, 2 runs")
    args = parser.parse_args()
    if args.quick:
        args.results, args.cycles, args.runs = 20_000, 2, 2

    from bench.targets import nginx_process

    print(describe_machine())
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="vigie-bench-agents-") as tmp:
        folder = Path(tmp)
        for store in args.stores:
            found = ingest_runs(store, args.checks, args.results, args.batch, args.runs,
                                folder)
            print(f"ingest, {store}: {found['taken']:,} results a run in batches of "
                  f"{args.batch} from 4 agents, {args.checks:,} checks at 4 locations "
                  f"(quorum 3), {args.runs} runs (median [min–max])")
            print(f"  results per second        {found['rate'].fmt(0, '/s')}")
            print(f"  server CPU per result     {found['cpu'].fmt(0, 'µs')}")
            print(f"  {load_note(found['loads'])}")
        with nginx_process() as (url, _nginx_pid):
            alone = server_alone(folder, url, args.agent_checks, args.interval, args.cycles,
                                 args.runs)
            agent = through_agent(folder, url, args.agent_checks, args.interval, args.cycles,
                                  args.runs)
        print(f"{args.agent_checks:,} http checks every {args.interval:g} s against nginx, "
              f"{args.cycles} cycles a window, {args.runs} windows (median [min–max])")
        print(f"  vigie run running them itself, CPU per check    {alone['cpu'].fmt(0, 'µs')}")
        print(f"  vigie agent running them, CPU per check         {agent['cpu'].fmt(0, 'µs')}")
        print(f"  … the server receiving them, CPU per result     "
              f"{agent['server'].fmt(0, 'µs')}")
        print(f"  agent / server alone: {agent['cpu'].median / alone['cpu'].median:.2f}")
        print(f"  {load_note(alone['loads'] + agent['loads'])}")
    print(f"total {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
