"""The demo's stand-in for the members' mailboxes (an SMTP sink keeping what Vigie mails
members), and members' subscriptions working in the running demo: a sign-up through
``/abonnement/`` gets its confirmation mail in ``data/demo/courrier/``, whose link
confirms it; the log names the mail, never its link."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import re
import smtplib
from email.message import EmailMessage

import aiohttp

from plugins.demo.command import MAILBOX_DIR, run_demo
from plugins.demo.targets import DemoTargets, start_demo_targets
from tests.conftest import free_port
from tests.dashboard.assistance.helpers import form_to, png
from tests.plugins.test_demo import free_base_port

TOKEN = "Zk3v9QeY0sJx1cWm8pLr2tNa6dUbHq4fGi7oKe5yXw0"
CONFIRM_LINK = re.compile(r"https?://\S+/abonnement/confirmer/[A-Za-z0-9_-]+(?:\?lang=\w+)?")


def _send(port: int, msg: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo()
        client.send_message(msg)


def _member_mail() -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = "Votre abonnement : coopérative de démonstration"
    msg["From"] = "Vigie <ne-pas-repondre@demo.coop.test>"
    msg["To"] = "alice@example.org"
    msg.set_content(f"Pour confirmer : http://127.0.0.1:8080/abonnement/confirmer/{TOKEN}\n")
    msg.add_attachment(png(), maintype="image", subtype="png", filename="logo.png")
    return msg


def _logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "plugins.demo.mailsink"]


async def test_the_mailbox_keeps_each_mail_and_logs_its_recipient_and_subject(tmp_path,
                                                                              caplog):
    caplog.set_level(logging.INFO, logger="plugins.demo.mailsink")
    folder = tmp_path / "courrier"
    targets = await start_demo_targets("127.0.0.1", free_base_port(), mailbox_dir=folder)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", targets.port("mailbox"))
        greeting = await reader.readline()
        writer.close()
        await asyncio.to_thread(_send, targets.port("mailbox"), _member_mail())
        mail = await targets.mailbox.wait_for(lambda m: True, 10)
    finally:
        await targets.close()
    assert greeting.startswith(b"220 mailbox.demo.coop.test ")
    assert mail.recipients == ("alice@example.org",)
    assert mail.subject == "Votre abonnement : coopérative de démonstration"
    # named by its recipient; kept whole (the helpdesk's alone unpacks attachments), its
    # text beside it, decoded: the link is on one line there, not cut as in the .eml
    assert mail.path == folder / "0001-alice-example.org.eml"
    assert sorted(p.name for p in folder.iterdir()) == ["0001-alice-example.org.eml",
                                                        "0001-alice-example.org.txt"]
    kept = email.message_from_bytes(mail.path.read_bytes(), policy=email.policy.default)
    assert kept.get_filename() is None and len(list(kept.iter_attachments())) == 1
    text = mail.path.with_suffix(".txt").read_bytes().decode()
    assert text == f"Pour confirmer : http://127.0.0.1:8080/abonnement/confirmer/{TOKEN}\n"
    assert _logged(caplog) == [
        f"demo mailbox: mail to alice@example.org: Votre abonnement : coopérative de "
        f"démonstration, kept in {mail.path}"]  # the link stays in the mailbox
    assert not targets.helpdesk.mails  # the two sinks keep apart


async def test_signing_up_in_the_running_demo_mails_a_link_that_confirms(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    base, port = free_base_port(), free_port()
    ready, stop, lines = asyncio.Event(), asyncio.Event(), []
    running: list[DemoTargets] = []
    vigie = f"http://127.0.0.1:{port}"
    data = tmp_path / "data"
    task = asyncio.create_task(run_demo("127.0.0.1", port, data, base, ready=ready,
                                        stop=stop, echo=lines.append,
                                        started=running.append))
    jar = aiohttp.CookieJar(unsafe=True)  # the form's CSRF cookie, on 127.0.0.1
    try:
        await asyncio.wait_for(ready.wait(), 30)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            async with http.get(f"{vigie}/abonnement/") as resp:
                assert resp.status == 200, await resp.text()
                fields = form_to(await resp.text(), "/abonnement/")["fields"]
            assert fields["csrf"]
            form = aiohttp.FormData({**fields, "email": "alice@example.org",
                                     "scope": "chosen", "language": "fr"})
            form.add_field("service", "forum")
            async with http.post(f"{vigie}/abonnement/", data=form) as resp:
                assert resp.status == 200, await resp.text()
            (targets,) = running
            mail = await targets.mailbox.wait_for(
                lambda m: m.recipients == ("alice@example.org",), 60)
            assert mail.path is not None and mail.path.parent == data / MAILBOX_DIR
            kept = email.message_from_bytes(mail.path.read_bytes(),
                                             policy=email.policy.default)
            # the link as a person reads it in the text beside the .eml
            (link,) = CONFIRM_LINK.findall(mail.path.with_suffix(".txt").read_text("utf-8"))
            assert CONFIRM_LINK.findall(kept.get_body(("plain",)).get_content()) == [link]
            assert link.startswith(f"{vigie}/abonnement/confirmer/")
            # the link opens a page with one button; the button confirms
            async with http.get(link) as resp:
                assert resp.status == 200, await resp.text()
                button = form_to(await resp.text(), "/abonnement/confirmer/")
            async with http.post(f"{vigie}{button['action']}", data=button["fields"]) as resp:
                assert resp.status == 200, await resp.text()
                confirmed = await resp.text()
            manage = re.search(r'href="(/abonnement/gerer/[^"]+)"', confirmed).group(1)
            async with http.get(f"{vigie}{manage}") as resp:
                assert resp.status == 200
                assert "alice@example.org" in await resp.text()
            # a link works once
            async with http.post(f"{vigie}{button['action']}", data=button["fields"]) as resp:
                assert resp.status == 404
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    assert "Coopérative de démonstration" in mail.subject
    assert "Coopérative de démonstration" in str(kept["From"])
    assert str(kept["From"]).endswith("@demo.coop.test>")
    output = "\n".join(lines)
    assert f"{vigie}/abonnement/" in output and str(data / MAILBOX_DIR) in output
    # the log says where the mail is, never its secret link
    secret = link.rpartition("/")[2].partition("?")[0]
    assert f"demo mailbox: mail to alice@example.org: {mail.subject}, kept in {mail.path}" \
        in _logged(caplog)
    assert not [r for r in caplog.records if secret in r.getMessage()]
