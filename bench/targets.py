"""Local targets for benchmarks: a throw-away nginx on 127.0.0.1.

Benchmarks only ever probe 127.0.0.1. The nginx runs from a temporary prefix with its own
configuration, and is stopped (and its folder removed) when the context manager exits.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
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
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(prefix, ignore_errors=True)
