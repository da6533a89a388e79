"""Bodies of a spooled prefix (``server.paths./assistance``: members' screenshots) go to
a temporary file as they arrive, with Vigie's listener and with waitress: a large upload
costs the process 64 KiB of its body memory, not its size. Proved with the listener's own
counters (``body_bytes``, the spooled bytes of ``/metrics``) and with tracemalloc, never
with timing."""

from __future__ import annotations

import hashlib
import http.client
import itertools
import json
import tracemalloc

import pytest

from monitor import connections
from monitor.bodies import SPOOL_MEMORY
from monitor.config import DEFAULT_PATHS, ListenerLimits, PathSettings, ServerSettings
from monitor.router import Router
from monitor.web import make_listener
from tests.monitor.test_listener_limits import (
    PATIENCE,
    WatchedStats,
    connect,
    status_of,
    until_closed,
    wait_for,
)

MB = 1000 * 1000
BLOCK = bytes(range(256)) * 256  # 64 KiB


class Hashing:
    """A WSGI app reading its body in pieces: how much, its SHA-256, and how many calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, environ, start_response):
        self.calls += 1
        digest, size, stream = hashlib.sha256(), 0, environ["wsgi.input"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        while size < length and (piece := stream.read(min(65536, length - size))):
            digest.update(piece)
            size += len(piece)
        out = json.dumps({"read": size, "sha256": digest.hexdigest()}).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(out)))])
        return [out]


@pytest.fixture
def listen(tmp_path):
    """``listen(engine, app, paths=DEFAULT_PATHS, **limits)``: a started listener."""
    servers = []

    def start(engine, app, paths=DEFAULT_PATHS, **limits):
        router = Router(metrics=lambda: b"", health=lambda: {"ok": True},
                        metrics_content_type="text/plain")
        router.mount("/", app)
        server = make_listener(router, "127.0.0.1", 0, 2, engine=engine,
                               limits=ListenerLimits(**limits), paths=paths,
                               spool_dir=tmp_path / "spool", stats=WatchedStats())
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def post(port: int, path: str, size: int) -> tuple[int, dict]:
    """POST ``size`` bytes (64 KiB pieces of one block, never the whole body in memory)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=PATIENCE)
    pieces, rest = divmod(size, len(BLOCK))
    body = itertools.chain(itertools.repeat(BLOCK, pieces), [BLOCK[:rest]])
    connection.request("POST", path, body=body, headers={"Content-Length": str(size)})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, json.loads(data) if response.status == 200 else {}


def expected_sha(size: int) -> str:
    digest = hashlib.sha256()
    pieces, rest = divmod(size, len(BLOCK))
    for _ in range(pieces):
        digest.update(BLOCK)
    digest.update(BLOCK[:rest])
    return digest.hexdigest()


def traced_growth(action) -> tuple[object, int]:
    """``action()``'s result, and the most Python memory it took above where it began
    (every thread of the process: the listener's too)."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak - before


@pytest.mark.parametrize("engine", ["vigie", "waitress"])
def test_a_20_mb_body_to_assistance_is_refused_before_it_is_read(listen, engine):
    app = Hashing()
    server = listen(engine, app)
    sock = connect(server.port)
    # the head alone: a listener that waited for the body would never answer
    sock.sendall(b"POST /assistance/envoyer HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: multipart/form-data; boundary=b\r\n"
                 b"Content-Length: 20000000\r\n\r\n")
    assert status_of(until_closed(sock)) == 413
    assert app.calls == 0
    if engine == "vigie":
        assert server.stats.requests_refused["body_too_large"] == 1
        assert server.stats.body_bytes_peak == 0 and server.stats.spooled == 0


@pytest.mark.parametrize("engine", ["vigie", "waitress"])
def test_a_14_mb_body_to_assistance_is_spooled_not_held(listen, engine, tmp_path):
    """14 MB through the listener to the app, whole and intact, while the Python memory
    of the process grows by a fraction of it; Vigie's listener says where it went."""
    app = Hashing()
    server = listen(engine, app)
    size = 14 * MB
    (status, answer), growth = traced_growth(
        lambda: post(server.port, "/assistance/envoyer", size))
    assert status == 200 and answer == {"read": size, "sha256": expected_sha(size)}
    assert growth < 3 * 1024 * 1024, growth
    if engine == "vigie":
        stats = server.stats
        assert stats.body_bytes_peak <= SPOOL_MEMORY
        assert (stats.spooled, stats.spooled_bytes) == (1, size)
        assert stats.body_bytes == 0
        # the temporary file has no name: nothing in the folder, during or after
        assert list((tmp_path / "spool").iterdir()) == []


def test_without_spooling_the_same_body_is_held_in_memory(listen):
    """The counters that prove the spooling see the difference: the same body under a
    prefix that is not spooled holds its whole size of the body memory."""
    app = Hashing()
    paths = {"/assistance": PathSettings(max_body=16 * 1024 * 1024)}
    server = listen("vigie", app, paths=paths)
    size = 14 * MB
    (status, _answer), growth = traced_growth(
        lambda: post(server.port, "/assistance/envoyer", size))
    assert status == 200
    assert server.stats.body_bytes_peak >= size and server.stats.spooled == 0
    assert growth >= size


def test_spooled_bodies_fit_a_body_memory_smaller_than_one_of_them(listen):
    """With 128 KiB of body memory for the whole listener, 14 MB still go through a
    spooled prefix (and the memory is given back)."""
    server = listen("vigie", Hashing(), body_memory=128 * 1024)
    status, answer = post(server.port, "/assistance/envoyer", 14 * MB)
    assert status == 200 and answer["read"] == 14 * MB
    assert server.stats.body_bytes == 0 and server.stats.requests_refused["body_memory"] == 0


def test_freed_memory_is_handed_back_after_uploads(listen, monkeypatch):
    """Uploads leave no body in memory, but parsing and decoding them in the worker
    threads frees pages glibc would keep: once enough went to disk and the connections
    are gone, the listener trims, as after a flood of bodies held."""
    monkeypatch.setattr(connections, "TRIM_AFTER_SPOOLED_BYTES", 3 * MB)
    server = listen("vigie", Hashing())
    assert post(server.port, "/assistance/envoyer", 2 * MB)[0] == 200
    assert server.stats.flood_spooled == 2 * MB and server.stats.trims == 0
    assert post(server.port, "/assistance/envoyer", 2 * MB)[0] == 200  # the connection closes
    wait_for(server, lambda: server.stats.trims == 1, "a trim after 4 MB spooled")
    assert server.stats.flood_spooled == 0


def test_a_spool_folder_that_cannot_be_written_refuses_with_503(listen, tmp_path, caplog):
    """A full or vanished disk is Vigie's problem, said in the log; the member is
    asked to come back (503), the body's memory is given back."""
    app = Hashing()
    server = listen("vigie", app)
    (tmp_path / "spool").rmdir()
    (tmp_path / "spool").write_text("not a folder")
    status, _answer = post(server.port, "/assistance/envoyer", 2 * MB)
    assert status == 503 and app.calls == 0
    assert server.stats.body_bytes == 0
    assert "could not be written" in caplog.text


def test_a_chunked_body_over_the_limit_is_refused_and_its_file_closed(listen, tmp_path):
    app = Hashing()
    paths = {"/assistance": PathSettings(max_body=1024 * 1024, spool=True)}
    server = listen("vigie", app, paths=paths)
    sock = connect(server.port)
    sock.sendall(b"POST /assistance/envoyer HTTP/1.1\r\nHost: x\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n" % len(BLOCK) + BLOCK + b"\r\n"
    try:
        for _ in range(40):  # 2.5 MB, the listener stops reading at 1 MiB
            sock.sendall(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert status_of(until_closed(sock)) == 413
    assert app.calls == 0
    assert server.stats.requests_refused["body_too_large"] == 1
    assert server.stats.body_bytes == 0 and server.stats.spooled == 0
    assert list((tmp_path / "spool").iterdir()) == []


def test_a_spooled_prefix_may_take_more_than_the_body_memory():
    """The configuration refuses a body limit larger than the body memory, unless the
    prefix is spooled (its bodies are not held)."""
    limits = ListenerLimits(body_memory=4 * 1024 * 1024)
    with pytest.raises(ValueError, match="body_memory"):
        ServerSettings(limits=limits, paths={"/x": PathSettings(max_body=8 * 1024 * 1024)})
    ServerSettings(limits=limits,
                   paths={"/x": PathSettings(max_body=8 * 1024 * 1024, spool=True)})
    assert ServerSettings().paths["/assistance"].spool
