"""A member subscribes by e-mail in a real browser, on a phone (360 px), without
JavaScript, against a real ``vigie run`` mailing a real SMTP server (aiosmtpd): the form
from the header's link (sent once empty: the errors beside their fields), the
confirmation link read from the mail, the services changed through the manage link of the
mail, and the unsubscribe done by a plain one-click POST to the mail's
``List-Unsubscribe`` address, as a mail provider sends it (no cookie); the same in
English. On every page of the path: no horizontal scrolling, no word of the other
language, no serious problem for axe-core."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.browser.conftest import artifact
from tests.browser.test_assistance_browser import PHONE, axe_problems, fits
from tests.browser.test_page_languages import visible_text
from tests.conftest import free_port
from tests.language import foreign_words
from tests.monitor.membermail.conftest import Mailbox
from tests.peers import Process, wait_until

pytestmark = pytest.mark.browser

#: what the member sees, in each language
WORDS = {
    "fr": {"locale": "fr-FR", "link": "S'abonner", "email": "Votre adresse e-mail",
           "only": "Seulement ceux que je coche ci-dessous", "mail": "Messagerie",
           "lists": "Listes de diffusion", "send": "S'abonner",
           "sent": "Consultez votre messagerie", "confirm": "Confirmer mon abonnement",
           "confirmed": "Votre abonnement est confirmé", "save": "Enregistrer mes modifications",
           "saved": "Vos modifications sont enregistrées.",
           "gone": "Ce lien ne fonctionne plus"},
    "en": {"locale": "en-GB", "link": "Subscribe", "email": "Your e-mail address",
           "only": "Only the ones I tick below", "mail": "Mail", "lists": "Mailing lists",
           "send": "Subscribe", "sent": "Check your mailbox",
           "confirm": "Confirm my subscription", "confirmed": "Your subscription is confirmed",
           "save": "Save my changes", "saved": "Your changes are saved.",
           "gone": "This link no longer works"},
}


@dataclass
class Live:
    """A running Vigie and the SMTP server it mails."""

    url: str
    mailbox: Mailbox
    database: Path
    vigie: Process

    def mails_to(self, address: str, count: int = 1):
        """The first ``count`` mails accepted for ``address``, once they have come."""
        wait_until(self.mailbox.changed, lambda: len(self.mailbox.to(address)) >= count,
                   f"{count} mail(s) to {address}")
        return self.mailbox.to(address)[:count]

    def subscriber(self, address: str) -> tuple | None:
        """``(state, language, services, groups)`` of an address, or None."""
        with sqlite3.connect(self.database, timeout=10) as conn:
            return conn.execute("SELECT state, language, services, groups FROM subscribers "
                                "WHERE email_key = ?", (address.lower(),)).fetchone()


def write_config(folder: Path, port: int, smtp: int) -> Path:
    path = folder / "vigie.yaml"
    path.write_text(f"""\
site:
  title: {{fr: "Coopérative Exemple — état des services", en: "Example cooperative — service status"}}
  public_url: "http://127.0.0.1:{port}"
data_dir: {folder / "data"}
scheduler: {{spread_first_runs: false}}
server: {{listen: '127.0.0.1:{port}'}}
dashboard: {{secret_key: not-a-secret-of-this-test}}
mail: {{host: 127.0.0.1, port: {smtp}, security: none, from_address: "etat@example.coop",
        from_name: "État des services"}}
groups:
  - {{id: hebergement, name: {{fr: Hébergement, en: Hosting}}}}
  - {{id: communication, name: {{fr: Communication, en: Communication}}}}
services:
  - id: web
    name: {{fr: Hébergement web, en: Web hosting}}
    group: hebergement
    checks: [{{id: port, kind: tcp, host: 127.0.0.1, port: {port}, interval: 1h}}]
  - id: mail
    name: {{fr: Messagerie, en: Mail}}
    group: communication
    checks: [{{id: smtp, kind: tcp, host: 127.0.0.1, port: {smtp}, interval: 1h}}]
  - id: lists
    name: {{fr: Listes de diffusion, en: Mailing lists}}
    group: communication
    checks: [{{id: smtp, kind: tcp, host: 127.0.0.1, port: {smtp}, interval: 1h}}]
""", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """``vigie run`` serving the status page and mailing a local SMTP server."""
    folder = tmp_path_factory.mktemp("subscriptions-live")
    mailbox, smtp = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=smtp)
    controller.start()
    port = free_port()
    config = write_config(folder, port, smtp)
    vigie = Process(subprocess.Popen([sys.executable, "-m", "monitor", "-c", str(config), "run"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True))
    try:
        vigie.wait_line("listening on", "Vigie listening", timeout=90)
        yield Live(f"http://127.0.0.1:{port}", mailbox, folder / "data" / "vigie.sqlite", vigie)
    finally:
        text = vigie.stop()
        controller.stop()
    (folder / "vigie.log").write_text(text, encoding="utf-8")  # kept for a post-mortem
    assert "Traceback" not in text, text[-3000:]


def link_in(mail, path: str) -> str:
    """The one address of ``mail``'s text part under ``path``."""
    text = mail.get_body(preferencelist=("plain",)).get_content()
    found = set(re.findall(r"https?://\S+" + re.escape(path) + r"[^\s>)]+", text))
    assert len(found) == 1, (path, text)
    return found.pop()


def one_click(url: str, body: str):
    """The POST a mail provider sends for ``List-Unsubscribe-Post``: the body alone, no
    cookie; ``(status, headers, page)``; a redirect is not followed."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    request = urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    opener = urllib.request.build_opener(NoRedirect)
    with opener.open(request, timeout=30) as answer:
        return answer.status, dict(answer.headers), answer.read().decode()


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_member_subscribes_confirms_changes_and_unsubscribes_in_one_click(
        browser, live, lang):
    said = WORDS[lang]
    address = f"alice-{lang}@example.org"
    context = browser.new_context(locale=said["locale"], viewport=PHONE,
                                  java_script_enabled=False)
    page = context.new_page()
    # axe-core needs JavaScript: it reads a copy of each page the member saw, in a page of
    # its own on the same site (the style sheets load), so the member's page stays
    # without JavaScript and no link is followed twice
    checker = browser.new_context(locale=said["locale"], viewport=PHONE)
    copy = checker.new_page()
    copy.goto(live.url + "/maintenance")
    serious: list[str] = []

    def check_page(name: str) -> None:
        assert fits(page), f"{name}: wider than the phone"
        assert not foreign_words(visible_text(page), lang), name
        copy.set_content(page.content(), wait_until="load")
        serious.extend(f"{name}: {found}" for found in axe_problems(copy))
        page.screenshot(path=str(artifact(f"subscriptions-{lang}-{name}.png")), full_page=True)

    try:
        # from the status page's header to the form
        page.goto(live.url + "/")
        page.get_by_role("navigation").get_by_role("link", name=said["link"]).click()
        page.wait_for_url(live.url + "/abonnement/")
        # sent without an address nor a service: the page says so beside each field
        page.get_by_label(said["only"]).check()
        page.get_by_role("button", name=said["send"]).click()
        summary = page.get_by_role("alert")
        assert summary.get_by_role("link").count() == 2
        assert page.get_by_label(said["email"]).get_attribute("aria-invalid") == "true"
        check_page("errors")
        summary.get_by_role("link").first.click()
        page.get_by_label(said["email"]).fill(address)
        page.get_by_label(said["mail"], exact=True).check()
        check_page("form")
        page.get_by_role("button", name=said["send"]).click()
        assert page.get_by_role("heading", level=1).inner_text() == said["sent"]
        assert address in page.locator("main").inner_text()
        check_page("sent")
        assert live.subscriber(address)[:3] == ("pending", lang, '["mail"]')

        # the confirmation link, read from the mail
        [mail] = live.mails_to(address)
        assert mail["Content-Language"] == lang
        confirm = link_in(mail, "/abonnement/confirmer/")
        assert confirm.endswith("?lang=en") == (lang == "en")
        page.goto(confirm)
        check_page("confirm")
        page.get_by_role("button", name=said["confirm"]).click()
        assert page.get_by_role("heading", level=1).inner_text() == said["confirmed"]
        check_page("confirmed")
        assert live.subscriber(address)[0] == "confirmed"

        # the services changed through the manage link of the mail
        page.goto(link_in(mail, "/abonnement/gerer/"))
        page.get_by_label(said["mail"], exact=True).uncheck()
        page.get_by_label(said["lists"], exact=True).check()
        check_page("manage")
        page.get_by_role("button", name=said["save"]).click()
        assert page.get_by_role("status").first.inner_text() == said["saved"]
        assert live.subscriber(address)[2] == '["lists"]'

        # one click in the mail client: the POST alone, as the provider sends it
        unsubscribe = mail["List-Unsubscribe"].strip("<>")
        assert unsubscribe.startswith(live.url + "/abonnement/u/")
        status, headers, _body = one_click(unsubscribe, mail["List-Unsubscribe-Post"])
        assert status == 200 and "Location" not in headers and "Set-Cookie" not in headers
        assert live.subscriber(address) is None
        page.goto(link_in(mail, "/abonnement/gerer/"))
        assert page.get_by_role("heading", level=1).inner_text() == said["gone"]
        check_page("gone")
    finally:
        context.close()
        checker.close()
    assert not serious, serious
