"""The demo's stand-in helpdesk (an SMTP sink keeping what it receives), and members'
assistance working in the running demo: a request sent through ``/assistance/envoyer``
reaches the stand-in desk with its screenshot, and its receipt the member's mailbox."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import smtplib
from email.message import EmailMessage

import aiohttp
import pytest

from plugins.demo import mailsink
from plugins.demo.command import HELPDESK_DIR, MAILBOX_DIR, run_demo
from plugins.demo.targets import DemoTargets, start_demo_targets
from tests.conftest import free_port
from tests.dashboard.assistance.helpers import form_to, png
from tests.plugins.test_demo import free_base_port


def _send(port: int, msg: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo()
        client.send_message(msg)


def _request_mail(body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = "[DEM-20261206-7KQ2] Mon site est lent"
    msg["From"] = "vigie@demo.coop.test"
    msg["To"] = "support@demo.coop.test"
    msg["X-Vigie-Reference"] = "DEM-20261206-7KQ2"
    msg.set_content(body)
    msg.add_attachment(png(), maintype="image", subtype="png", filename="../capture.png")
    return msg


async def test_the_helpdesk_keeps_each_message_with_its_attachments(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="plugins.demo.mailsink")
    folder = tmp_path / "helpdesk"
    targets = await start_demo_targets("127.0.0.1", free_base_port(), helpdesk_dir=folder)
    body = "La page met 30 s.\n.une ligne qui commence par un point\n"
    try:
        await asyncio.to_thread(_send, targets.port("helpdesk"), _request_mail(body))
        mail = await targets.helpdesk.wait_for(lambda m: True, 10)
    finally:
        await targets.close()
    assert mail.reference == "DEM-20261206-7KQ2"
    assert mail.subject == "[DEM-20261206-7KQ2] Mon site est lent"
    assert mail.recipients == ("support@demo.coop.test",)
    # the file name cannot leave its folder
    assert mail.attachments == (("capture.png", "image/png"),)
    assert mail.path == folder / "0001-DEM-20261206-7KQ2.eml"
    kept = mail.path.read_text()
    assert "X-Vigie-Reference: DEM-20261206-7KQ2" in kept
    assert ".une ligne qui commence par un point" in kept  # the dot unstuffed once
    assert "\n..une" not in kept
    assert (folder / "0001-DEM-20261206-7KQ2" / "capture.png").read_bytes() == png()
    [line] = [r.getMessage() for r in caplog.records if r.name == "plugins.demo.mailsink"]
    assert line == (f"demo helpdesk: ticket DEM-20261206-7KQ2 received: [DEM-20261206-7KQ2] "
                    f"Mon site est lent (attachments: 1), kept in {mail.path}")


async def test_the_helpdesk_refuses_what_smtp_does_not_allow(monkeypatch):
    monkeypatch.setattr(mailsink, "MAX_MESSAGE", 2000)
    targets = await start_demo_targets("127.0.0.1", free_base_port())
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", targets.port("helpdesk"))
        assert (await reader.readline()).startswith(b"220 ")
        writer.write(b"RCPT TO:<support@demo.coop.test>\r\nDATA\r\n")
        assert (await reader.readline()).startswith(b"503 ")  # no MAIL first
        assert (await reader.readline()).startswith(b"503 ")  # no recipient
        writer.write(b"MAIL FROM:<vigie@demo.coop.test> SIZE=9000\r\n"
                     b"RCPT TO:<support@demo.coop.test>\r\nDATA\r\n")
        for code in (b"250 ", b"250 ", b"354 "):
            assert (await reader.readline()).startswith(code)
        writer.write(b"Subject: big\r\n\r\n" + b"".join(b"y" * 70 + b"\r\n" for _ in range(40))
                     + b".\r\nQUIT\r\n")
        assert (await reader.readline()).startswith(b"552 ")
        assert (await reader.readline()).startswith(b"221 ")
        writer.close()
    finally:
        await targets.close()
    assert not targets.helpdesk.mails
    assert targets.helpdesk.folder is None  # without a folder, nothing is written


async def test_a_member_s_request_in_the_running_demo_reaches_the_helpdesk(tmp_path):
    base, port = free_base_port(), free_port()
    ready, stop, lines = asyncio.Event(), asyncio.Event(), []
    running: list[DemoTargets] = []
    vigie = f"http://127.0.0.1:{port}"
    data = tmp_path / "data"
    task = asyncio.create_task(run_demo("127.0.0.1", port, data, base, ready=ready,
                                        stop=stop, echo=lines.append,
                                        started=running.append))
    jar = aiohttp.CookieJar(unsafe=True)  # the form's cookie, on 127.0.0.1
    try:
        await asyncio.wait_for(ready.wait(), 30)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            async with http.get(f"{vigie}/assistance/sites-web/demande") as resp:
                assert resp.status == 200, await resp.text()
                fields = form_to(await resp.text(), "/assistance/envoyer")["fields"]
            fields.update(title="Mon site est lent", name="Alice Martin",
                          email="alice@example.org", consent="on",
                          description="La page d'accueil met 30 s à s'afficher.")
            form = aiohttp.FormData()
            for name, value in fields.items():
                form.add_field(name, value)
            form.add_field("screenshots", io.BytesIO(png()), filename="capture.png",
                           content_type="image/png")
            async with http.post(f"{vigie}/assistance/envoyer", data=form,
                                 allow_redirects=False) as resp:
                assert resp.status == 303, await resp.text()
                receipt = resp.headers["Location"]
            async with http.get(f"{vigie}{receipt}" if receipt.startswith("/")
                                else receipt) as resp:
                page = await resp.text()
            reference = re.search(r'id="reference">(DEM-\d{8}-\w{4})<', page).group(1)
            (targets,) = running
            mail = await targets.helpdesk.wait_for(lambda m: m.reference == reference, 60)
            # and the member's receipt reaches the stand-in for the members' mailboxes
            receipt_mail = await targets.mailbox.wait_for(
                lambda m: m.reference == reference, 60)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert "Mon site est lent" in mail.subject
    assert mail.recipients == ("support@demo.coop.test",)
    assert [media for _name, media in mail.attachments] == ["image/png"]
    assert mail.path is not None and mail.path.parent == data / HELPDESK_DIR
    (shot,) = (mail.path.parent / mail.path.stem).iterdir()
    from PIL import Image

    with Image.open(shot) as image:
        assert image.format == "PNG" and image.size == (64, 48)
    kept = mail.path.read_text()
    assert "Reply-To: Alice Martin <alice@example.org>" in kept
    assert "La page d'accueil met 30 s" in kept
    assert receipt_mail.recipients == ("alice@example.org",)
    assert receipt_mail.path is not None and receipt_mail.path.parent == data / MAILBOX_DIR
    output = "\n".join(lines)
    assert f"{vigie}/assistance/" in output and str(data / HELPDESK_DIR) in output


@pytest.mark.parametrize("name, expected", [
    ("capture.png", "capture.png"), ("../../etc/passwd", "passwd"), ("", "piece-1"),
    ("écran 1.png", "cran-1.png"), ("..", "piece-1")])
def test_attachment_names_stay_in_their_folder(name, expected):
    assert mailsink._safe_name(name, "piece-1") == expected
