"""The demo's alert receiver: what the volunteers would get from Vigie, on one page.

The demo configuration sends its alerts through Apprise's ``json://`` scheme to
``POST /alertes`` on this target. Apprise's payload is ``{"version": "1.0", "title",
"message", "attachments", "type": "info|success|warning|failure"}``. The last
:data:`KEEP` alerts are kept in memory and shown at ``/`` ("Alertes reçues par les
bénévoles"), newest first; ``/alertes.json`` gives them as JSON.
"""

from __future__ import annotations

import html
import json
import logging
import re
import time
from collections import deque
from dataclasses import asdict, dataclass

from aiohttp import web

#: alerts kept (the oldest are forgotten)
KEEP = 50
#: a larger POST is refused (Apprise's alerts are a few KiB)
MAX_BODY = 256 * 1024
TYPES = ("info", "success", "warning", "failure")
_URL = re.compile(r"https?://[^\s<>\"']+")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReceivedAlert:
    """One alert as Apprise delivered it."""

    received_at: float
    title: str
    message: str
    type: str


class AlertInbox:
    """The last :data:`KEEP` alerts received, oldest first."""

    def __init__(self, keep: int = KEEP) -> None:
        self.alerts: deque[ReceivedAlert] = deque(maxlen=keep)

    def add(self, payload: dict) -> ReceivedAlert:
        """Record an Apprise JSON payload.

        :raises ValueError: the payload has neither a title nor a message.
        """
        title = str(payload.get("title") or "").strip()
        message = str(payload.get("message") or "").strip()
        if not title and not message:
            raise ValueError("an alert needs a title or a message")
        kind = str(payload.get("type") or "info")
        alert = ReceivedAlert(time.time(), title, message, kind if kind in TYPES else "info")
        self.alerts.append(alert)
        return alert


_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="30">
<title>Alertes reçues par les bénévoles</title>
<style>
:root {{ color-scheme: light dark; font-family: system-ui, sans-serif; }}
body {{ max-width: 50rem; margin: 1rem auto; padding: 0 1rem; line-height: 1.4; }}
article {{ border-left: .4rem solid #888; padding: .2rem .8rem; margin: 1rem 0; }}
article.failure {{ border-color: #c62828; }} article.warning {{ border-color: #ef6c00; }}
article.success {{ border-color: #2e7d32; }} article.info {{ border-color: #1565c0; }}
h2 {{ font-size: 1.05rem; margin: .3rem 0; }}
pre {{ white-space: pre-wrap; font-family: inherit; margin: .3rem 0; }}
time {{ font-size: .9rem; opacity: .8; }}
</style></head>
<body>
<h1>Alertes reçues par les bénévoles</h1>
<p>Ce que Vigie envoie aux bénévoles (Apprise, <code>json://</code>) pendant la
démonstration : les {keep} dernières alertes, les plus récentes en premier. La page se
recharge toutes les 30 secondes.<br><span lang="en">Alerts Vigie sent to the volunteers
during the demo, newest first.</span></p>
{alerts}
</body></html>
"""


def _linked(text: str) -> str:
    """``text`` escaped for HTML, with its bare web addresses made links."""
    out, last = [], 0
    for match in _URL.finditer(text):
        out.append(html.escape(text[last:match.start()]))
        url = html.escape(match.group(0))
        out.append(f'<a href="{url}">{url}</a>')
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def render_page(inbox: AlertInbox) -> str:
    """The HTML page listing the alerts, newest first."""
    items = []
    for alert in reversed(inbox.alerts):
        when = time.strftime("%d/%m %H:%M:%S", time.localtime(alert.received_at))
        items.append(
            f'<article class="{alert.type}"><time>{when} · {alert.type}</time>'
            f"<h2>{html.escape(alert.title)}</h2><pre>{_linked(alert.message)}</pre></article>")
    if not items:
        items.append("<p><em>Aucune alerte pour l'instant : elles arrivent quand un service "
                     "tombe en panne (quelques minutes après le démarrage).</em></p>")
    return _PAGE.format(keep=KEEP, alerts="\n".join(items))


def alerts_app(inbox: AlertInbox) -> web.Application:
    """``POST /alertes`` (Apprise ``json://``), ``GET /`` (the page), ``GET /alertes.json``."""
    async def receive(request: web.Request) -> web.Response:
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return web.json_response({"error": "too large"}, status=413)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        refused = web.json_response({"error": "expected Apprise's JSON payload"}, status=400)
        if not isinstance(payload, dict):
            return refused
        try:
            inbox.add(payload)
        except ValueError:
            return refused
        # one line per alert, as Vigie logs each event: the demo's terminal shows it came
        log.info("demo: the volunteers' inbox received an alert (%d shown)", len(inbox.alerts))
        return web.json_response({"ok": True})

    async def page(_request: web.Request) -> web.Response:
        return web.Response(text=render_page(inbox), content_type="text/html",
                            charset="utf-8", headers={"Cache-Control": "no-store"})

    async def as_json(_request: web.Request) -> web.Response:
        return web.json_response([asdict(a) for a in reversed(inbox.alerts)])

    app = web.Application()
    app.router.add_post("/alertes", receive)
    app.router.add_get("/", page)
    app.router.add_get("/alertes.json", as_json)
    return app
