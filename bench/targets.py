"""Local targets for benchmarks, all on 127.0.0.1, each stopped when its block exits.

- :func:`nginx`: a throw-away nginx (Debian's ``nginx-light``) serving ``/ok.html``, from a
  temporary prefix with its own configuration, ``keepalive_timeout 0`` so every check
  opens a new connection;
- :func:`hanging_server`: a server in its own process that accepts connections and never
  answers (the target that makes checks run into their deadline);
- :func:`refusing_port`: a port bound but not listening (connections are refused);
- :func:`blackbox_exporter`: Debian's ``prometheus-blackbox-exporter`` with an ``http_2xx``
  module, installed with apt-get when missing, run by us (never as a system service).

Benchmarks only ever probe 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

NGINX_CONF = """
worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    keepalive_timeout 0;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {prefix}/html;
        location = /hang {{ return 444; }}
    }}
}}
"""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    """Wait until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@contextlib.contextmanager
def nginx(workers: int = 1) -> Iterator[str]:
    """Run nginx serving ``/ok.html``; yield its base URL (``http://127.0.0.1:PORT``)."""
    with nginx_process(workers) as (url, _pid):
        yield url


@contextlib.contextmanager
def nginx_process(workers: int = 1) -> Iterator[tuple[str, int]]:
    """Run nginx serving ``/ok.html``; yield ``(base URL, master pid)``."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise SystemExit("nginx is missing: apt-get install nginx-light")
    prefix = Path(tempfile.mkdtemp(prefix="vigie-bench-nginx-"))
    prefix.chmod(0o755)  # nginx workers run as an unprivileged user when started as root
    (prefix / "html").mkdir(mode=0o755)
    (prefix / "html" / "ok.html").write_text("<html><body>vigie-bench ok</body></html>\n")
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(workers=workers, prefix=prefix, port=port))
    proc = subprocess.Popen([binary, "-p", str(prefix), "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        _stop(proc, signal.SIGQUIT)
        shutil.rmtree(prefix, ignore_errors=True)


HANG_SERVER = """
import asyncio, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
async def hold(reader, writer):
    try:
        while await reader.read(65536):
            pass  # read and ignore the request: never answer
    finally:
        writer.close()
async def main():
    server = await asyncio.start_server(hold, "127.0.0.1", int(sys.argv[1]), backlog=4096)
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


@contextlib.contextmanager
def hanging_server() -> Iterator[tuple[str, int]]:
    """Run a server that accepts and never answers; yield ``(base URL, pid)``.

    It runs in its own process, so its CPU is never counted as Vigie's.
    """
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", HANG_SERVER, str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        _stop(proc)


@contextlib.contextmanager
def refusing_port() -> Iterator[str]:
    """Yield the base URL of a port that refuses connections (bound, never listening).

    Keeping the socket bound reserves the port, so nothing else starts listening on it.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


BLACKBOX_CONFIG = """
modules:
  http_2xx:
    prober: http
    timeout: 10s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
"""


def blackbox_binary(install: bool = True) -> str:
    """Path of Debian's blackbox_exporter, installed with apt-get when missing."""
    binary = shutil.which("prometheus-blackbox-exporter") or "/usr/bin/prometheus-blackbox-exporter"
    if Path(binary).exists():
        return binary
    if not install:
        raise SystemExit("prometheus-blackbox-exporter is missing: "
                         "apt-get install -y prometheus-blackbox-exporter")
    print("installing prometheus-blackbox-exporter (Debian package)...", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # the package's service is never started here (no systemd, and we run the binary ourselves)
    done = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends",
                           "prometheus-blackbox-exporter"], env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0 or not Path(binary).exists():
        raise SystemExit("could not install prometheus-blackbox-exporter:\n" + done.stderr[-2000:])
    return binary


def blackbox_version(binary: str) -> str:
    """``0.23.0`` (the exporter's own ``--version``)."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    text = (out.stdout + out.stderr).split()
    return text[2] if len(text) > 2 else "unknown"


@contextlib.contextmanager
def blackbox_exporter() -> Iterator[tuple[str, int]]:
    """Run blackbox_exporter on 127.0.0.1; yield ``(base URL, pid)``.

    Started as Prometheus users run it, with a module ``http_2xx`` (GET, 2xx expected,
    IPv4, 10 s timeout); probed with ``/probe?target=...&module=http_2xx``.
    """
    binary = blackbox_binary()
    folder = Path(tempfile.mkdtemp(prefix="vigie-bench-blackbox-"))
    (folder / "blackbox.yml").write_text(BLACKBOX_CONFIG)
    port = free_port()
    proc = subprocess.Popen(
        [binary, f"--config.file={folder / 'blackbox.yml'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder)
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        _stop(proc, signal.SIGTERM)
        shutil.rmtree(folder, ignore_errors=True)


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop a process we started: ``sig``, then kill after 10 s."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
