"""A member's form with screenshots through Vigie's own listener, as in production: the
body spooled by the listener (``/assistance``), parsed to the spool folder, judged and
re-encoded; refusals answered with the member's message, in French or English, naming
the file; nothing kept after a refusal."""

from __future__ import annotations

import dataclasses
import http.client
import json
import socket
from pathlib import Path

import pytest
from flask import Flask, request

from dashboard.assistance.screenshots import Refused, accept_all
from dashboard.assistance.uploads import read_upload
from monitor.assistance.settings import ScreenshotLimits
from monitor.bodies import SPOOL_MEMORY
from monitor.config import DEFAULT_PATHS, ListenerLimits
from monitor.router import Router
from monitor.web import WebServer
from tests.dashboard.assistance import images
from tests.dashboard.assistance.multipart import multipart
from tests.dashboard.assistance.test_screenshots import assert_clean

LIMITS = ScreenshotLimits()


def make_app(spool: Path, dest: Path) -> Flask:
    """The shape of the request view: read the upload first, then judge the files."""
    app = Flask(__name__)

    @app.post("/assistance/envoyer")
    def send():
        try:
            form, files = read_upload(request, LIMITS, spool)
            shots = accept_all(files, LIMITS, dest)
        except Refused as refusal:
            lang = request.accept_languages.best_match(["fr", "en"]) or "fr"
            return {"code": refusal.code, "message": refusal.words.say(lang)}, refusal.status
        return {"title": form.get("title"), "shots": [dataclasses.asdict(s) for s in shots]}

    return app


@pytest.fixture
def site(tmp_path):
    """``(server, spool, dest)``: Vigie's listener with its default paths serving the app."""
    spool, dest = tmp_path / "spool", tmp_path / "dest"
    router = Router(metrics=lambda: b"", health=lambda: {"ok": True},
                    metrics_content_type="text/plain")
    router.mount("/", make_app(spool, dest))
    server = WebServer(router, "127.0.0.1", 0, threads=2, limits=ListenerLimits(),
                       paths=DEFAULT_PATHS, spool_dir=tmp_path / "listener")
    server.start()
    yield server, spool, dest
    server.stop()


def send(port: int, body: bytes, content_type: str, lang: str = "fr") -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", "/assistance/envoyer", body=body, headers={
        "Content-Type": content_type, "Accept-Language": lang})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    type_ = response.getheader("Content-Type") or ""
    return response.status, json.loads(data) if "json" in type_ else {"text": data.decode()}


def empty(*folders: Path) -> bool:
    return all(not folder.exists() or list(folder.iterdir()) == [] for folder in folders)


def test_three_screenshots_arrive_clean_through_the_listener(site):
    server, spool, dest = site
    body, kind = multipart([("title", "Plus de courriel")], [
        ("screenshots", "capture.png", images.png_with_metadata()),
        ("screenshots", "IMG_0042.JPG", images.jpeg_with_gps()),
        ("screenshots", "écran.webp", images.webp_with_metadata())])
    status, answer = send(server.port, body, kind)
    assert status == 200, answer
    assert [s["filename"] for s in answer["shots"]] == [
        "capture.png", "IMG_0042.jpg", "écran.webp"]
    for shot in answer["shots"]:
        assert_clean(Path(shot["path"]).read_bytes())
    assert empty(spool) and len(list(dest.iterdir())) == 3
    assert server.stats.spooled == 1 and server.stats.body_bytes_peak <= SPOOL_MEMORY


def test_14_mb_of_real_screenshots_cost_the_listener_64_kib_of_memory(site):
    server, spool, dest = site
    jpegs = [images.noise((2150, 1750), "JPEG", quality=95) for _ in range(3)]
    body, kind = multipart([("title", "x")], [
        ("screenshots", f"photo-{i}.jpg", data) for i, data in enumerate(jpegs)])
    assert len(body) > 13_000_000
    status, answer = send(server.port, body, kind)
    assert status == 200, answer
    assert len(answer["shots"]) == 3
    assert server.stats.spooled_bytes == len(body)
    assert server.stats.body_bytes_peak <= SPOOL_MEMORY
    assert empty(spool)


@pytest.mark.parametrize("lang, words", [
    ("fr", "n'est pas une image lisible"), ("en", "is not an image that can be read")])
def test_a_pdf_named_png_is_refused_in_the_members_language(site, lang, words):
    server, spool, dest = site
    body, kind = multipart([("title", "x")], [
        ("screenshots", "ok.png", images.png_with_metadata()),
        ("screenshots", "facture.png", images.pdf())])
    status, answer = send(server.port, body, kind, lang)
    assert status == 422 and answer["code"] == "not_image"
    assert words in answer["message"] and "facture.png" in answer["message"]
    assert empty(spool, dest)


def test_a_sixth_file_and_a_6_mb_file_are_refused_naming_the_file(site):
    server, spool, dest = site
    small = images.png_with_metadata((40, 30))
    body, kind = multipart([], [("screenshots", f"c{i}.png", small) for i in range(6)])
    status, answer = send(server.port, body, kind)
    assert (status, answer["code"]) == (422, "count") and "c5.png" in answer["message"]
    body, kind = multipart([], [("screenshots", "lourde.png", images.noise_png_of(6_000_000))])
    status, answer = send(server.port, body, kind, "en")
    assert (status, answer["code"]) == (413, "too_big")
    assert answer["message"] == "“lourde.png” is too large: 5 MB at most per screenshot."
    assert empty(spool, dest)


def test_a_decompression_bomb_is_refused_and_nothing_is_stored(site):
    server, spool, dest = site
    bomb = images.declaring(images.encode(images.picture((8, 8)), "PNG"), 100_000, 100_000)
    body, kind = multipart([], [("screenshots", "bombe.png", bomb)])
    status, answer = send(server.port, body, kind)
    assert (status, answer["code"]) == (422, "bomb")
    assert "bombe de décompression" in answer["message"] and "bombe.png" in answer["message"]
    assert empty(spool, dest)


def test_a_20_mb_file_is_refused_by_the_listener_before_the_app_reads_it(site):
    """The listener answers 413 from the announced length and closes the connection; the
    client, still sending, reads the refusal (a browser shows it)."""
    server, spool, dest = site
    body, kind = multipart([], [("screenshots", "énorme.png",
                                 images.noise_png_of(20 * 1000 * 1000))])
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(f"POST /assistance/envoyer HTTP/1.1\r\nHost: x\r\nContent-Type: {kind}\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode())
    try:
        sock.sendall(body)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the listener stopped reading: what it answered is already here
    answer = sock.recv(4096)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert "Requête trop volumineuse" in answer.decode("utf-8", "replace")
    assert server.stats.requests_refused["body_too_large"] == 1
    assert server.stats.spooled == 0
    assert empty(spool, dest)
