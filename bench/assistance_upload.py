"""Members uploading screenshots while the status page is read: ``vigie run`` with
``assistance:`` enabled, 20 members at once each loading the request form
(``GET /assistance/other/demande``) and sending it back with 5 real images of about 5 MB
(``POST /assistance/envoyer``, multipart, every hidden field of the page posted back).

Measured: Vigie's resident memory before the load, at its peak and after (target: the
peak less than 50 MB above the start), the status page's latency meanwhile (``GET /``
from a separate process, a few clients in a loop; target p99 < 50 ms), the members'
answers (each must be the receipt's 303), what the listener wrote to disk instead of
memory, and what the desk stand-in received once the outbox delivered.

The desk stand-in is a plugin registered in Vigie's process (``assistance.desk:
bench-desk``): it reads each screenshot back from disk, checks its SHA-256 and returns a
ticket link; a real adapter's own cost (the base64 of the attachments in its request) is
not measured here. Images are random noise (they do not compress): JPEGs and PNGs made
once per run. The upload limits are raised to let 5 × 5 MB through
(``assistance.screenshots.max_total_size``, ``server.paths./assistance.max_body``), and
the rate limits out of the way (every member comes from 127.0.0.1).

    .venv/bin/python bench/assistance_upload.py [--members 20] [--files 5] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from html.parser import HTMLParser
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import (
    MachineLoad,
    child_env,
    describe_machine,
    load_note,
    migrate_in_subprocess,
    progress,
    use_repo_root,
)

use_repo_root()

#: targets (docs/performance.md)
TARGET_RSS_GROWTH_MB = 50.0
TARGET_PAGE_P99_MS = 50.0
MiB = 1024 * 1024


# Vigie's process ----------------------------------------------------------------------------


def bench_desk():
    """The helpdesk stand-in: reads every screenshot back, checks it, returns a ticket.
    (Made here: ``monitor`` is importable only once the repository is on the path.)"""
    from monitor.api import Link, hookimpl

    class BenchDesk:
        def __init__(self) -> None:
            self.delivered = self.screenshots = self.bytes = self.bad = 0

        @hookimpl
        def vigie_assistance_request(self, request):
            for shot in request.screenshots:
                digest = hashlib.sha256()
                with open(shot.path, "rb") as handle:
                    while block := handle.read(1 << 20):
                        digest.update(block)
                self.bad += digest.hexdigest() != shot.sha256
                self.screenshots += 1
                self.bytes += shot.size
            self.delivered += 1
            number = str(self.delivered)
            return [Link(kind="ticket", title=f"#{number}",
                         url=f"http://desk.invalid/t/{number}", public=False,
                         external_id=number)]

    return BenchDesk()


async def _child(config_path: Path) -> None:
    """Run Vigie with the desk stand-in until stdin closes; then say what the desk got."""
    from monitor.config_loader import blocked_plugins, load_with_plugins
    from monitor.plugins import build_plugin_manager
    from monitor.runtime import Runtime

    desk = bench_desk()
    pm = build_plugin_manager(blocked=blocked_plugins(config_path),
                              extra_plugins=[("bench-desk", desk)])
    pm, registry, config = load_with_plugins(config_path, pm)
    runtime = Runtime(config, pm, registry)
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(runtime.run(stop, ready))
    await ready.wait()
    trace = os.environ.get("VIGIE_BENCH_TRACEMALLOC")  # a file: Python's heap at its fullest
    if trace:
        watching = threading.Event()
        watcher = threading.Thread(target=_heap_watch, args=(trace, watching), daemon=True)
        watcher.start()
    print(json.dumps({"event": "ready", "port": runtime.web.port}), flush=True)
    await asyncio.to_thread(sys.stdin.read)  # the parent closes our stdin to stop us
    if trace:
        watching.set()
        watcher.join()
    stop.set()
    await task
    print(json.dumps({"event": "result", "delivered": desk.delivered,
                      "screenshots": desk.screenshots, "bytes": desk.bytes,
                      "bad": desk.bad}), flush=True)


def _heap_watch(path: str, stopping: threading.Event) -> None:
    """Snapshots of Python's heap every second; the fullest one's top lines to ``path``."""
    import tracemalloc

    tracemalloc.start(8)
    fullest, most = None, 0
    while not stopping.wait(1.0):
        current, _peak = tracemalloc.get_traced_memory()
        if current > most:
            fullest, most = tracemalloc.take_snapshot(), current
    _current, peak = tracemalloc.get_traced_memory()
    lines = [f"peak {peak / MiB:.1f} MiB, fullest snapshot {most / MiB:.1f} MiB"]
    if fullest is not None:
        for stat in fullest.statistics("traceback")[:15]:
            lines.append(f"{stat.size / MiB:.2f} MiB in {stat.count} blocks")
            lines.extend("    " + line for line in stat.traceback.format()[-6:])
    Path(path).write_text("\n".join(lines) + "\n")


def write_config(folder: Path, args: argparse.Namespace) -> Path:
    """Twenty services of heartbeat checks (nothing to probe), assistance enabled."""
    total = args.files * args.size + 2 * MiB
    lines = [
        "data_dir: data",
        f"store: {{url: 'sqlite:///{folder / 'vigie.sqlite'}'}}",
        "server:",
        "  listen: '127.0.0.1:0'",
        "  paths:",
        "    /admin: {max_body: 1048576, threads: 4}",
        f"    /assistance: {{max_body: {total + 2 * MiB}, threads: 4, spool: true}}",
        "plugins: {blocked: [demo]}",
        "assistance:",
        "  enabled: true",
        "  desk: bench-desk",
        "  receipt: false",
        f"  screenshots: {{max_files: {args.files}, max_total_size: {total}}}",
        "  limits: {per_address: 10000, per_email: 10000}",
        "services:",
    ]
    for s in range(20):
        lines.append(f"  - id: svc{s}\n    name: Service {s}\n    checks:")
        lines.append(f"      - {{id: beat, kind: heartbeat, token: '{secrets.token_urlsafe(24)}',"
                     " expected_every: 1h}")
    path = folder / "vigie.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


# The images --------------------------------------------------------------------------------


def make_images(count: int, size: int) -> list[tuple[str, bytes, str]]:
    """``count`` noise images of about ``size`` bytes (under it): JPEGs, and a PNG in three."""
    from PIL import Image

    out = []
    for i in range(count):
        png = i % 3 == 2
        # noise: a PNG takes 3 bytes a pixel, a JPEG at quality 95 about 1.2
        pixels = int(size / (3.0 if png else 1.25) * 0.97)
        side = int(pixels ** 0.5)
        while True:
            image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
            buffer = io.BytesIO()
            if png:
                image.save(buffer, "PNG", compress_level=1)
            else:
                image.save(buffer, "JPEG", quality=95)
            if buffer.tell() <= size:
                break
            side = int(side * 0.98)
        name = f"capture-{i + 1}.{'png' if png else 'jpg'}"
        out.append((name, buffer.getvalue(), "image/png" if png else "image/jpeg"))
    return out


# The members -------------------------------------------------------------------------------


class _Form(HTMLParser):
    """The inputs of the page's request form (``action`` ends in ``/envoyer``)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._in = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._in = (a.get("action") or "").endswith("/envoyer")
        elif self._in and tag == "input" and a.get("name") and a.get("type") in (
                "hidden", None, "text", "email"):
            self.fields[a["name"]] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._in = False


async def member(base: str, number: int, images, results: list) -> None:
    """Load the request form, fill it in, send it with the images; record the answer."""
    import aiohttp

    started = time.monotonic()
    jar = aiohttp.CookieJar(unsafe=True)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=timeout) as session:
        async with session.get(f"{base}/assistance/other/demande",
                               headers={"Accept-Language": "fr"}) as response:
            page = await response.text()
        form = _Form()
        form.feed(page)
        fields = dict(form.fields)
        fields.update(title=f"Membre {number} : plus de courriel",
                      description="Depuis ce matin je ne reçois plus rien. " * 5,
                      name=f"Membre {number}", email=f"membre{number}@example.org",
                      member_id=f"M{number:04d}", consent="on", website="")
        data = aiohttp.FormData()
        for name, value in fields.items():
            data.add_field(name, value)
        for filename, content, media_type in images:
            data.add_field("screenshots", content, filename=filename, content_type=media_type)
        sent = time.monotonic()
        async with session.post(f"{base}/assistance/envoyer", data=data,
                                allow_redirects=False) as response:
            body = await response.read()
            results.append({"status": response.status, "form": sent - started,
                            "send": time.monotonic() - sent,
                            "location": response.headers.get("Location", ""),
                            "body": body[:300].decode("utf-8", "replace")
                            if response.status != 303 else ""})


async def members(port: int, count: int, images, results: list) -> None:
    base = f"http://127.0.0.1:{port}"
    await asyncio.gather(*(member(base, i, images, results) for i in range(count)))


# The status page, read meanwhile from another process ------------------------------------


def prober(port: int, clients: int) -> None:
    """``--prober``: ``clients`` threads reading ``/`` one request after the other (kept
    alive) until stdin closes; then print every latency in ms with when it was measured
    (``time.monotonic()``, the same clock in every process of the machine)."""
    import http.client

    stopping = threading.Event()
    latencies: list[tuple[float, float]] = []
    errors = [0]

    def loop() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while not stopping.is_set():
            start = time.perf_counter()
            try:
                connection.request("GET", "/", headers={"Accept-Language": "fr"})
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            if ok:
                latencies.append((time.monotonic(), (time.perf_counter() - start) * 1000))
            else:
                errors[0] += 1
            stopping.wait(0.01)  # about 100 requests a second per client, not a flood

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    print(json.dumps({"event": "ready"}), flush=True)
    sys.stdin.read()
    stopping.set()
    for thread in threads:
        thread.join(timeout=30)
    print(json.dumps({"latencies": latencies, "errors": errors[0]}), flush=True)


# The run -------------------------------------------------------------------------------------


def rss_sampler(pid: int, samples: list[tuple[float, float]], stopping: threading.Event) -> None:
    import psutil

    process = psutil.Process(pid)
    while not stopping.wait(0.1):
        try:
            samples.append((time.monotonic(), process.memory_info().rss / MiB))
        except psutil.NoSuchProcess:
            return


def metric(port: int, name: str) -> float:
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    found = re.search(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    return float(found.group(1)) if found else float("nan")


def quantile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


def wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return predicate()


def run(args: argparse.Namespace) -> bool:
    with tempfile.TemporaryDirectory(prefix="vigie-bench-upload-") as tmp:
        folder = Path(tmp)
        progress(f"making {args.files} noise images of about {args.size / 1e6:.1f} MB…")
        images = make_images(args.files, args.size)
        config = write_config(folder, args)
        migrate_in_subprocess(f"sqlite:///{folder / 'vigie.sqlite'}")
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child",
                                 str(config)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=(folder / "vigie.log").open("w"), text=True,
                                env=child_env(), cwd=folder)
        rss: list[tuple[float, float]] = []
        stopping = threading.Event()
        probe = None
        results: list[dict] = []
        desk: dict = {}
        try:
            line = proc.stdout.readline()  # type: ignore[union-attr]  # stdout=PIPE
            if not line:
                raise SystemExit("Vigie did not start:\n" + (folder / "vigie.log").read_text())
            port = json.loads(line)["port"]
            threading.Thread(target=rss_sampler, args=(proc.pid, rss, stopping),
                             daemon=True).start()
            # warm-up: the pages the members and the prober use, once each
            asyncio.run(members(port, 1, images[:1], []))
            probe = subprocess.Popen([sys.executable, str(Path(__file__).resolve()),
                                      "--prober", str(port), str(args.page_clients)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=child_env())
            probe.stdout.readline()  # type: ignore[union-attr]  # stdout=PIPE
            progress(f"settling {args.settle:g} s (the page read without uploads)…")
            quiet_start = time.monotonic()
            time.sleep(args.settle)  # a quiet moment: the baselines
            settled = time.monotonic()
            load = MachineLoad().start()
            load.track(proc.pid)
            load_start = time.monotonic()
            for round_ in range(args.rounds):
                progress(f"round {round_ + 1}/{args.rounds}: {args.members} members × "
                         f"{args.files} images…")
                asyncio.run(members(port, args.members, images, results))
            load_end = time.monotonic()
            machine = load.stop()
            probe.stdin.close()  # type: ignore[union-attr]  # stdin=PIPE
            page = json.loads(probe.stdout.read())  # type: ignore[union-attr]  # stdout=PIPE
            probe.wait(timeout=60)
            expected = args.members * args.rounds + 1
            progress("waiting for the outbox to deliver every request…")
            wait_for(lambda: metric(port, "vigie_outbox_backlog") == 0, 120)
            progress(f"cool-down {args.cooldown:g} s…")
            time.sleep(args.cooldown)
            end = time.monotonic()
            spooled = metric(port, "vigie_http_request_body_spooled_bytes_total")
            body_memory = metric(port, "vigie_http_request_body_bytes")
        finally:
            stopping.set()
            if probe is not None and probe.poll() is None:
                probe.kill()
            proc.stdin.close()  # type: ignore[union-attr]  # stdin=PIPE
            for out in proc.stdout:  # type: ignore[union-attr]  # stdout=PIPE
                if out.startswith("{"):
                    desk = json.loads(out)
            proc.wait(timeout=60)
            log_tail = (folder / "vigie.log").read_text(errors="replace").splitlines()[-20:]
    before = statistics.median(v for t, v in rss if settled - 2 <= t <= settled)
    during = [v for t, v in rss if load_start <= t <= load_end]
    peak = max(during or [before])
    after = statistics.median(v for t, v in rss if end - 3 <= t <= end)
    growth = peak - before
    latencies = [ms for at, ms in page["latencies"] if load_start <= at <= load_end]
    quiet = [ms for at, ms in page["latencies"] if quiet_start <= at <= settled]
    statuses: dict[int, int] = {}
    for r in results:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    sends = [r["send"] for r in results]
    ok = {
        "rss": growth < TARGET_RSS_GROWTH_MB,
        "page": quantile(latencies, 0.99) < TARGET_PAGE_P99_MS and not page["errors"],
        "answers": statuses.get(303, 0) == len(results),
        "desk": desk.get("delivered") == expected and not desk.get("bad"),
    }
    total = sum(len(c) for _, c, _ in images)
    print(f"\n## Members uploading screenshots ({describe_machine()})\n")
    print(f"{args.members} members at once × {args.rounds} round(s), each {args.files} images "
          f"({total / 1e6:.1f} MB in all: {', '.join(f'{len(c) / 1e6:.2f}' for _, c, _ in images)}"
          f" MB), {load_end - load_start:.1f} s of load\n")
    print("| measure | value | target |\n| --- | --- | --- |")
    print(f"| Vigie RSS before / peak / after | {before:.0f} / {peak:.0f} / {after:.0f} MB | |")
    print(f"| RSS growth at the peak | {growth:.1f} MB | < {TARGET_RSS_GROWTH_MB:.0f} MB "
          f"({'met' if ok['rss'] else 'MISSED'}) |")
    print(f"| status page `/` p50 / p99 / max ({len(latencies)} requests, "
          f"{page['errors']} errors) | {quantile(latencies, 0.5):.1f} / "
          f"{quantile(latencies, 0.99):.1f} / {max(latencies or [float('nan')]):.1f} ms | "
          f"p99 < {TARGET_PAGE_P99_MS:.0f} ms ({'met' if ok['page'] else 'MISSED'}) |")
    print(f"| the same before the uploads ({len(quiet)} requests) | "
          f"{quantile(quiet, 0.5):.1f} / {quantile(quiet, 0.99):.1f} / "
          f"{max(quiet or [float('nan')]):.1f} ms | |")
    print(f"| members' answers | {statuses} | all 303 ({'met' if ok['answers'] else 'MISSED'}) |")
    print(f"| send time p50 / max | {quantile(sends, 0.5):.1f} / {max(sends or [0]):.1f} s | |")
    print(f"| bodies written to disk by the listener | {spooled / 1e6:.0f} MB "
          f"(body memory held after: {body_memory:.0f} B) | |")
    print(f"| desk stand-in | {desk.get('delivered')} requests, {desk.get('screenshots')} "
          f"screenshots, {desk.get('bytes', 0) / 1e6:.0f} MB, {desk.get('bad')} bad | "
          f"{expected} ({'met' if ok['desk'] else 'MISSED'}) |")
    print(f"\n{load_note([machine])}")
    bad = [r for r in results if r["status"] != 303][:3]
    if bad:
        print("\nfirst refused answers:", json.dumps(bad, ensure_ascii=False, indent=1))
        print("\n".join(log_tail))
    return all(ok.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=20, help="members sending at once")
    parser.add_argument("--files", type=int, default=5, help="images per request")
    parser.add_argument("--size", type=int, default=5 * 1000 * 1000,
                        help="bytes of each image at most (default 5 MB)")
    parser.add_argument("--rounds", type=int, default=2, help="waves of members, one after "
                        "the other")
    parser.add_argument("--page-clients", type=int, default=4,
                        help="clients reading / meanwhile")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before the load")
    parser.add_argument("--cooldown", type=float, default=10.0, help="seconds after it")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--prober", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        from monitor.loop import run as run_loop

        run_loop(_child(Path(args.child)))
        return 0
    if args.prober:
        prober(int(args.prober[0]), int(args.prober[1]))
        return 0
    return 0 if run(args) else 1


if __name__ == "__main__":
    sys.exit(main())
