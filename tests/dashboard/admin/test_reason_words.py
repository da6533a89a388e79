"""End to end: a real HTTP server answering 502 and a refused port, probed for real; the
public status page and API show the members' words, the admin API and the alerts keep
the volunteers' detail."""

from __future__ import annotations

import time

import aiohttp
from aiohttp import web

from monitor.config import Check, LocalizedText
from monitor.notifications import CheckSnapshot
from monitor.probe import CheckRef, Status
from monitor.runner import run_check
from monitor.store import CheckChange
from monitor.words import Bilingual
from plugins.http import HttpConfig, HttpProbe
from plugins.tcp import TcpConfig, TcpProbe
from tests.conftest import free_port


async def _probe(kind, probe, options, http):
    config = (HttpConfig if kind == "http" else TcpConfig).model_validate(options)
    check = Check(ref=CheckRef("mail", "web", kind), name=LocalizedText(fr="Page"),
                  interval=60.0, timeout=3.0, confirm=1, retry_interval=30.0, options=config)
    return await run_check(check, probe, http)


async def test_members_read_plain_words_and_volunteers_the_detail(admin_app, store, token):
    async def bad_gateway(_request):
        return web.Response(status=502, text="Bad Gateway")

    app = web.Application()
    app.router.add_get("/", bad_gateway)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    http_port = site._server.sockets[0].getsockname()[1]
    refused_port = free_port()  # nothing listens there
    try:
        async with aiohttp.ClientSession() as http:
            answered = await _probe("http", HttpProbe(), {"url": f"http://127.0.0.1:{http_port}/"},
                                    http)
            refused = await _probe("tcp", TcpProbe(), {"host": "127.0.0.1", "port": refused_port},
                                   http)
    finally:
        await runner.cleanup()
    assert answered.status is Status.DOWN and answered.reason.code == "http.status"
    assert "502" in answered.reason.fr
    assert refused.reason.code == "connection.refused"
    assert f"127.0.0.1:{refused_port}" in refused.reason.en
    now = time.time()  # the admin store is seeded around the real now
    store.write_batch((), [
        CheckChange("mail/web", now, Status.DOWN, Status.DOWN, answered.reason),
        CheckChange("mail/db", now, Status.DOWN, Status.DOWN, refused.reason)])

    client = admin_app.test_client()
    secrets = ("127.0.0.1", "502", str(http_port), str(refused_port))
    page = client.get("/services/mail").get_data(as_text=True)
    assert "Le site renvoie une erreur" in page and "Le service refuse les connexions" in page
    for secret in secrets:
        assert secret not in page, secret
    for lang in ("fr", "en"):
        doc = client.get("/api/v1/services/mail", headers={"Accept-Language": lang})
        reasons = [c["reason"] for c in doc.get_json()["checks"]]
        assert reasons == (["Le site renvoie une erreur", "Le service refuse les connexions"]
                           if lang == "fr" else
                           ["The site answers with an error", "The service refuses connections"])
        for secret in secrets:
            assert secret not in doc.get_data(as_text=True), (lang, secret)

    # volunteers: the admin API with a token keeps the probe's sentence as ``detail``
    checks = client.get("/admin/api/v1/checks",
                        headers={"Authorization": f"Bearer {token}"}).get_json()
    mine = {c["id"]: c for c in checks}
    assert mine["mail/web"]["reason"]["fr"] == "Le site renvoie une erreur"
    assert "502" in mine["mail/web"]["detail"]["fr"]
    assert f"127.0.0.1:{refused_port}" in mine["mail/db"]["detail"]["en"]
    assert client.get("/admin/api/v1/checks").status_code == 401

    # the alerts and tickets read the snapshot's reason_fr/en: the detail stays there,
    # the members' words are what public_reason() gives the forum and the timeline
    snapshot = CheckSnapshot("mail", "db", "tcp", "Base", "Database", "down",
                             refused.reason.fr, refused.reason.en, None,
                             refused.reason.public, refused.reason.code)
    assert f"127.0.0.1:{refused_port}" in snapshot.reason_fr
    assert snapshot.public_reason() == Bilingual("Le service refuse les connexions",
                                                 "The service refuses connections")
