"""What members receive, read back from a real SMTP server: the headers of every mail
(one-click unsubscribe, automatic, threading), one thread per incident, the subscriber's
language, public words only."""

from __future__ import annotations

import re

from email.message import EmailMessage

from monitor.incidents.emit import attach_links
from monitor.notifications import Link
from monitor.probe import ProbeResult, Status, reason
from tests.monitor.membermail.conftest import SENDER, SITE, Vigie

__all__ = ["parts", "everything_in"]


def parts(message: EmailMessage) -> tuple[str, str]:
    """The text and the HTML of a mail."""
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def everything_in(message: EmailMessage) -> str:
    """Every header and every decoded part of a mail."""
    headers = "\n".join(f"{k}: {v}" for k, v in message.items())
    return headers + "\n" + "\n".join(parts(message))


def open_incident(v: Vigie, services=("web",), title="Lenteurs", message="Nous regardons.",
                  **more) -> int:
    with v.store.session() as s, s.begin():
        return v.h.ops.open_incident(s, services=list(services), title_fr=title,
                                     impact="degraded", message_fr=message, **more).id


async def test_every_mail_carries_its_headers_and_the_subscribers_links(vigie):
    v = vigie
    alice = v.subscribe("alice@example.org", services=["web"])
    v.subscribe("bob@example.org", services=["cloud"])  # not concerned
    open_incident(v, title="Lenteurs générales", title_en="General slowness")
    await v.deliver()
    [mail] = v.mailbox.to("alice@example.org")
    assert v.mailbox.to("bob@example.org") == []
    token = v.subscriber("alice@example.org").manage_token
    assert mail["To"] == "alice@example.org"
    assert mail["From"] == f"État des services <{SENDER}>"
    assert mail["List-Unsubscribe"] == f"<{SITE}/abonnement/u/{token}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["X-Auto-Response-Suppress"] == "All"
    assert mail["Content-Language"] == "fr"
    assert re.fullmatch(r"<vigie\.incident-\d+\.s\d+\.[0-9a-f]{16}@example\.coop>",
                        mail["Message-ID"])
    assert mail["Date"] and mail["In-Reply-To"] is None
    # the subject names the service
    assert mail["Subject"] == "Incident : Hébergement web — Lenteurs générales"
    text, html = parts(mail)
    manage = f"{SITE}/abonnement/gerer/{token}"
    assert manage in text and f'href="{manage}"' in html
    assert "Nous regardons." in text and "Nous regardons." in html
    assert "Un incident touche Hébergement web." in text
    assert mail.get_content_type() == "multipart/alternative"
    [row] = v.ledger()
    assert (row.subscriber_id, row.kind, row.outcome) == (alice, "opened", "sent")
    assert row.message_id == mail["Message-ID"] and row.thread.startswith("incident:")


async def test_an_incident_threads_opened_updates_and_resolved(vigie):
    v = vigie
    v.subscribe("alice@example.org", everything=True)
    v.subscribe("bob@example.org", groups=["hosting"])
    iid = open_incident(v)
    with v.store.session() as s, s.begin():
        v.h.ops.post_update(s, iid, phase="identified", message_fr="Un disque est plein.")
        v.h.ops.post_update(s, iid, phase="identified", message_fr="Note interne",
                            public=False)
        v.h.ops.resolve_incident(s, iid, message_fr="Tout est rentré dans l'ordre.")
    await v.deliver()
    roots = set()
    for address in ("alice@example.org", "bob@example.org"):
        opened, update, resolved = v.mailbox.to(address)
        root = opened["Message-ID"]
        roots.add(root)
        assert opened["In-Reply-To"] is None
        for later in (update, resolved):
            assert later["In-Reply-To"] == root and later["References"] == root
        assert len({opened["Message-ID"], update["Message-ID"], resolved["Message-ID"]}) == 3
        assert update["Subject"].startswith("Suivi d'incident : ")
        assert resolved["Subject"].startswith("Incident résolu : ")
        assert "Un disque est plein." in parts(update)[0]
        assert "Tout est rentré dans l'ordre." in parts(resolved)[0]
    assert len(roots) == 2  # one thread per subscriber
    # the private note wrote no event: three mails each, no more
    assert len(v.mailbox.messages) == 6


async def test_an_english_subscriber_gets_english_and_english_links(vigie):
    v = vigie
    v.subscribe("ann@example.org", "en", services=["mail"])
    v.subscribe("jean@example.org", "fr", services=["mail"])
    open_incident(v, services=["mail"], title="Courriel lent", title_en="Slow mail",
                  message="Nous regardons.", message_en="We are looking into it.")
    await v.deliver()
    [english] = v.mailbox.to("ann@example.org")
    [french] = v.mailbox.to("jean@example.org")
    token = v.subscriber("ann@example.org").manage_token
    assert english["Content-Language"] == "en"
    assert english["Subject"] == "Incident: Mail — Slow mail"
    assert english["List-Unsubscribe"] == f"<{SITE}/abonnement/u/{token}?lang=en>"
    text, html = parts(english)
    assert "An incident affects Mail." in text and "We are looking into it." in text
    assert f"{SITE}/abonnement/gerer/{token}?lang=en" in text
    assert "/incidents/" in text and "?lang=en" in text.split("/incidents/")[1].split()[0]
    assert 'lang="en"' in html and "Nous regardons" not in text + html
    assert "Courriel" not in english["Subject"]
    # the title names the service already: once is enough
    assert french["Subject"] == "Incident : Courriel lent"
    assert "lang=en" not in everything_in(french)


SECRET_NOTE = "mot de passe root hunter2"
SECRET_REASON = "10.9.8.7:8443 backend-secret-xyz"
SECRET_LINK = "https://desk.example.coop/tickets/4242"
SECRET_LINK_TITLE = "Ticket interne 4242"


async def test_no_private_text_reaches_any_member_mail(vigie):
    """An automatic incident whose check's reason quotes a private address, a volunteers'
    note, a helpdesk ticket linked privately: none of it in any part of any mail (the
    public words of the reason are there instead)."""
    v = vigie
    v.subscribe("alice@example.org", everything=True)
    v.subscribe("ann@example.org", "en", everything=True)
    why = reason("http.connect", f"Connexion refusée par {SECRET_REASON}",
                 f"Connection refused by {SECRET_REASON}", public=False)
    v.h.feed(v.h.state.apply("web/http", ProbeResult(Status.DOWN, why,
                                                      started_at=v.clock.now)))
    [incident] = v.h.open()
    with v.store.session() as s, s.begin():
        attach_links(s, incident.id, [
            Link("ticket", SECRET_LINK_TITLE, SECRET_LINK, public=False, plugin="tickets"),
            Link("guide", "Guide des sites", f"{SITE}/guides/sites", plugin="docs")],
            v.clock.now)
        v.h.ops.post_update(s, incident.id, phase="identified", message_fr=SECRET_NOTE,
                            public=False)
        v.h.ops.post_update(s, incident.id, phase="monitoring",
                            message_fr="Correctif appliqué.", message_en="Fix applied.")
    v.clock.now += 60
    v.h.feed(v.h.state.apply("web/http", ProbeResult(Status.UP, started_at=v.clock.now)))
    v.clock.now += 600
    v.h.tick()  # the quiet period is over: resolved
    assert v.h.open() == []
    await v.deliver()
    mails = v.mailbox.messages
    kinds = [m["Subject"].split(":")[0] for m in v.mailbox.to("ann@example.org")]
    assert kinds[0] == "Incident" and kinds[-1] == "Incident resolved" and len(kinds) >= 3
    # the volunteers' plugin got the reason: it was there to leak
    assert any(SECRET_REASON in e.payload for e in v.rows("vigie_incident_opened"))
    for mail in mails:
        seen = everything_in(mail)
        # (no bare digits: a MIME boundary's random number may hold any four of them)
        for secret in (SECRET_NOTE, SECRET_REASON, "backend-secret", SECRET_LINK,
                       SECRET_LINK_TITLE, "tickets/4242", "10.9.8.7"):
            assert secret not in seen, (secret, mail["Subject"])
    first = parts(v.mailbox.to("alice@example.org")[0])[0]
    assert "Guide des sites" in first and f"{SITE}/guides/sites" in first
