"""Local stand-ins for helpdesks, following their documented API shapes.

Zammad and osTicket (Rails/PHP applications with their databases) cannot be started by a
test; these aiohttp applications answer as they do (REFERENCE.md, "Helpdesks"):

- **Zammad**: ``Authorization: Token token=<t>`` (else 401 ``{"error", "error_human"}``);
  ``POST /api/v1/tickets`` → 201 with ``id``, ``number``, ``state_id``, ``article_ids``…;
  an unknown group → 422 ``No lookup value found for 'group': "X"``;
  ``POST /api/v1/ticket_articles``; ``GET /api/v1/ticket_articles/by_ticket/{id}``;
  ``PUT /api/v1/tickets/{id}``; ``GET /api/v1/tickets/search?query=`` →
  ``{"tickets": [ids], "tickets_count", "assets": {"Ticket": {...}}}``.
- **osTicket**: ``POST /api/tickets.json`` with ``X-API-Key`` → 201 and the ticket number
  as plain text; a wrong key → 401 plain text "API key not authorized".
- **Webhook**: records every POST; answers ``{"id", "number", "url"}``; a repeated
  ``Idempotency-Key`` is acknowledged without acting again.

Each has scripted failures (:meth:`fail_next`) and :attr:`hang_after_record`: the request
is recorded (the ticket exists), then no answer comes until :attr:`release` is set (True:
the first request that records something; a path such as ``/api/v1/ticket_articles``: the
first request to that path).

Attachments are kept as the desks keep them: Zammad's ``attachments`` of an article
(``filename``, base64 ``data``, ``mime-type``; a bad base64 is a 422), osTicket's
``[{"name.png": "data:image/png;base64,…"}]`` (a malformed data URL is a 400).
"""

from __future__ import annotations

import asyncio
import base64
import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from aiohttp import web

from tests.peers import Changes

ZAMMAD_TOKEN = "z4mmad-token-for-tests-0123456789"
OSTICKET_KEY = "0571CKE7-KEY-FOR-TESTS-ABCDEF012345"
GROUPS = {"Users", "Bénévoles"}
STATES = {"new": 1, "open": 2, "closed": 4}


class ScriptedFailures:
    """Failures answered before acting, and the hang-after-record switch."""

    def __init__(self) -> None:
        self.scripted: list[tuple[int, object, dict]] = []
        self.hang_after_record: bool | str = False
        self.release = asyncio.Event()
        self.requests: list[tuple[str, str]] = []
        #: noted at each write recorded (just before a hang after record)
        self.changes = Changes()

    def fail_next(self, status: int, body: object = None, headers: dict | None = None) -> None:
        """Answer the next write with this status (JSON body, or text if a str)."""
        self.scripted.append((status, body if body is not None else {}, headers or {}))

    def scripted_answer(self) -> web.Response | None:
        if not self.scripted:
            return None
        status, body, headers = self.scripted.pop(0)
        if isinstance(body, str):
            return web.Response(status=status, text=body, headers=headers)
        return web.json_response(body, status=status, headers=headers)

    async def maybe_hang(self, path: str = "") -> None:
        self.changes.note()
        if self.hang_after_record is True or (path and self.hang_after_record == path):
            self.hang_after_record = False  # only the first request hangs
            await self.release.wait()


@dataclass
class ZammadTicket:
    """A ticket as the fake stores it."""

    id: int
    number: str
    title: str
    group: str
    customer: str
    state: str = "new"
    articles: list[dict] = field(default_factory=list)


class FakeZammad(ScriptedFailures):
    """A Zammad desk."""

    def __init__(self) -> None:
        super().__init__()
        self.tickets: dict[int, ZammadTicket] = {}
        self._next_article = 500
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_post("/api/v1/tickets", self.create)
        app.router.add_get("/api/v1/tickets/search", self.search)
        app.router.add_put("/api/v1/tickets/{id:\\d+}", self.update)
        app.router.add_post("/api/v1/ticket_articles", self.add_article)
        app.router.add_get("/api/v1/ticket_articles/by_ticket/{id:\\d+}", self.articles)
        return app

    @staticmethod
    def _error(status: int, message: str) -> web.Response:
        return web.json_response({"error": message, "error_human": message}, status=status)

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        self.requests.append((request.method, request.path_qs))
        if request.headers.get("Authorization") != f"Token token={ZAMMAD_TOKEN}":
            return self._error(401, "authentication failed")
        if request.method in ("POST", "PUT"):
            scripted = self.scripted_answer()
            if scripted is not None:
                return scripted
        return await handler(request)

    @staticmethod
    def _attachments(article: dict) -> list[dict]:
        """Zammad's stored attachments (raises ValueError for a bad one, answered 422)."""
        out = []
        for item in article.get("attachments") or ():
            data = base64.b64decode(item["data"], validate=True)
            out.append({"filename": item["filename"], "size": len(data), "data": data,
                        "preferences": {"Mime-Type": item.get("mime-type", "")}})
        return out

    def _article(self, ticket: ZammadTicket, article: dict) -> dict:
        self._next_article += 1
        attachments = self._attachments(article)
        stored = {"id": self._next_article, "ticket_id": ticket.id,
                  "subject": article.get("subject"), "body": article.get("body", ""),
                  "type": article.get("type", "note"), "internal": bool(article.get("internal")),
                  "sender": article.get("sender", "Agent"),
                  "content_type": article.get("content_type", "text/plain"),
                  "attachments": attachments}
        ticket.articles.append(stored)
        return stored

    @staticmethod
    def _article_json(article: dict) -> dict:
        return {**article, "attachments": [{k: v for k, v in a.items() if k != "data"}
                                           for a in article["attachments"]]}

    def _ticket_json(self, ticket: ZammadTicket) -> dict:
        return {"id": ticket.id, "group_id": 1, "priority_id": 2,
                "state_id": STATES[ticket.state], "number": ticket.number,
                "title": ticket.title, "customer_id": 3,
                "article_ids": [a["id"] for a in ticket.articles],
                "created_at": "2026-03-12T13:00:00.000Z"}

    async def create(self, request: web.Request) -> web.Response:
        data = await request.json()
        group = data.get("group")
        if group not in GROUPS:
            return self._error(422, f"No lookup value found for 'group': \"{group}\"")
        if not data.get("title"):
            return self._error(422, "Title can't be blank")
        try:
            self._attachments(data.get("article") or {})
        except (KeyError, ValueError):
            return self._error(422, "Invalid attachment data")
        ticket_id = len(self.tickets) + 1
        customer = str(data.get("customer_id") or data.get("customer") or "")
        ticket = ZammadTicket(ticket_id, str(31000 + ticket_id), data["title"], group,
                              customer.removeprefix("guess:"))
        self.tickets[ticket_id] = ticket
        if data.get("article"):
            self._article(ticket, data["article"])
        await self.maybe_hang(request.path)
        return web.json_response(self._ticket_json(ticket), status=201)

    async def search(self, request: web.Request) -> web.Response:
        query = request.query.get("query", "").lower()
        found = [t for t in self.tickets.values()
                 if query and query in t.title.lower() + " " + t.number]
        return web.json_response({
            "tickets": [t.id for t in found], "tickets_count": len(found),
            "assets": {"Ticket": {str(t.id): self._ticket_json(t) for t in found}}})

    async def update(self, request: web.Request) -> web.Response:
        ticket = self.tickets.get(int(request.match_info["id"]))
        if ticket is None:
            return self._error(404, "Couldn't find Ticket")
        data = await request.json()
        if "state" in data:
            if data["state"] not in STATES:
                return self._error(422, f"No lookup value found for 'state': \"{data['state']}\"")
            ticket.state = data["state"]
        return web.json_response(self._ticket_json(ticket))

    async def add_article(self, request: web.Request) -> web.Response:
        data = await request.json()
        ticket = self.tickets.get(int(data.get("ticket_id", 0)))
        if ticket is None:
            return self._error(422, "No lookup value found for 'ticket': \"unknown\"")
        article = self._article(ticket, data)
        await self.maybe_hang(request.path)
        return web.json_response(self._article_json(article), status=201)

    async def articles(self, request: web.Request) -> web.Response:
        ticket = self.tickets.get(int(request.match_info["id"]))
        if ticket is None:
            return self._error(404, "Couldn't find Ticket")
        return web.json_response([self._article_json(a) for a in ticket.articles])


class FakeOsTicket(ScriptedFailures):
    """An osTicket desk (API: create only)."""

    def __init__(self) -> None:
        super().__init__()
        self.tickets: list[dict] = []
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/tickets.json", self.create)
        return app

    async def create(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path_qs))
        if request.headers.get("X-API-Key") != OSTICKET_KEY:
            return web.Response(status=401, text="API key not authorized")
        scripted = self.scripted_answer()
        if scripted is not None:
            return scripted
        data = await request.json()
        for key in ("name", "email", "subject", "message"):
            if not data.get(key):
                return web.Response(status=400, text=f"{key}: Expected field missing")
        message = str(data["message"])
        match = re.match(r"data:text/plain(?:;charset=[\w-]+)?,(.*)", message, re.DOTALL)
        files = []
        for item in data.get("attachments") or ():
            for name, url in item.items():
                found = re.fullmatch(r"data:([\w.+-]+/[\w.+-]+);base64,([A-Za-z0-9+/=]*)", url)
                if found is None:
                    return web.Response(status=400, text=f"{name}: Invalid data")
                files.append({"name": name, "type": found.group(1),
                              "data": base64.b64decode(found.group(2))})
        number = str(654321 + len(self.tickets))
        self.tickets.append({"number": number, "subject": data["subject"],
                             "message": unquote(match.group(1)) if match else message,
                             "name": data["name"], "email": data["email"],
                             "source": data.get("source"), "topicId": data.get("topicId"),
                             "attachments": files})
        await self.maybe_hang()
        return web.Response(status=201, text=number, content_type="text/plain")


class FakeWebhook(ScriptedFailures):
    """A JSON receiver that honours Idempotency-Key."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[dict] = []
        self.keys: dict[str, dict] = {}
        self.headers: list[dict] = []
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hooks/vigie", self.receive)
        return app

    async def receive(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path_qs))
        self.headers.append(dict(request.headers))
        scripted = self.scripted_answer()
        if scripted is not None:
            return scripted
        key = request.headers.get("Idempotency-Key", "")
        if key in self.keys:
            return web.json_response(self.keys[key])
        data = await request.json()
        self.received.append(data)
        answer = {"id": f"T{len(self.received)}", "number": f"{len(self.received):05d}",
                  "url": f"{self.url}/tickets/T{len(self.received)}"}
        self.keys[key] = answer
        await self.maybe_hang()
        return web.json_response(answer)
