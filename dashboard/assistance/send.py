"""``POST /assistance/envoyer``: the request form, checked, its screenshots accepted, the
request handed to the core; then the page with its reference.

The body is streamed to disk while it is read (:func:`dashboard.assistance.uploads.read_upload`:
its size is checked before reading, each file's while streaming). Then, in this order —
cheapest first, nothing decoded for a sender who will be refused anyway: the CSRF field,
the honeypot ``website`` (which a person never sees, so never fills), the signed state and
its idempotency token, the proof of work, the fields, a form already sent (its token known:
``service.receipt_for``, answered with its reference, even at the rate limit), the rate
limits (``service.allowed``), and last the screenshots (decoded and re-encoded,
:func:`dashboard.assistance.screenshots.accept_all`). A refusal shows the form again with
what the member wrote (never the files: they are deleted) and a message per field, with a
4xx status: 400 (form), 403 (another site), 413 (screenshots too large), 422 (a file that
is not an accepted image, a field), 429 (too many requests). The same token sent twice
gives the same reference (``service.submit``), so a double click makes one request.
"""

from __future__ import annotations

import logging
import secrets
import shutil
from pathlib import Path

from flask import abort, redirect, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.exceptions import BadRequest

from dashboard.assistance import csrf, formstate, pow
from dashboard.assistance.blueprint import assistance, bp, count, csrf_message, page, refusal
from dashboard.assistance.forms import Problems, read_description, read_sender
from dashboard.assistance.situation import find
from dashboard.assistance.views import request_page
from dashboard.clients import own_address
from dashboard.i18n import gettext, select_language
from dashboard.pages import snapshot
from monitor.safetext import clean_line

log = logging.getLogger(__name__)

#: the user agent kept for the volunteers (characters)
USER_AGENT_LIMIT = 300


@bp.route("/envoyer", methods=["POST"])
def send():
    """Receive the request form (see the module)."""
    from dashboard.assistance import uploads
    from dashboard.assistance.screenshots import Refused

    service = assistance().service
    try:
        form, files = uploads.read_upload(request, assistance().settings.screenshots,
                                          Path(service.incoming_dir()))
    except Refused as exc:
        # the form could not be read whole: nothing to show again but the message
        count("refused")
        return refusal(exc.status, _said(exc) + " " + gettext(
            "Go back with your browser's Back button: what you wrote is still in the form; "
            "choose your screenshots again."), back=url_for("assistance.choose"))
    except BadRequest:
        count("refused")
        return refusal(400, gettext("This form could not be read. Start again from the "
                                    "assistance page."), back=url_for("assistance.choose"))
    try:
        return _checked(form, files)
    finally:
        for path, _name in files:  # a screenshot not accepted is never kept
            Path(path).unlink(missing_ok=True)


def _said(refused) -> str:
    return refused.words.say(select_language())


def _checked(form, files):
    settings = assistance().settings
    service = assistance().service
    sit = find(snapshot().data, settings, str(form.get("category") or ""))
    if sit is None:
        count("refused")
        return refusal(400, gettext("This form could not be read. Start again from the "
                                    "assistance page."), back=url_for("assistance.choose"))
    problems = Problems()
    state, expired = formstate.loads(form.get("state"))
    if state is None or state.category != sit.category or state.token != form.get("token"):
        state = formstate.FormState(formstate.new_token(), sit.category)
        problems.general.append(csrf_message("expired" if expired else "invalid"))
        status = 400
    else:
        state = state.with_opened(formstate.opened(state.token))
        status = 200
    problem = csrf.problem(form.get(csrf.FIELD))
    if problem is not None:
        problems.general.insert(0, csrf_message(problem))
        status = 403 if problem == "other_site" else 400
    elif form.get("website"):
        problems.general.append(gettext("This form could not be sent. Send it again from "
                                        "the page."))
        status = 400
    elif status == 200 and not pow.verify(form.get("challenge", ""), form.get("pow", ""),
                                          state.token, settings.limits.proof_of_work):
        problems.general.append(gettext(
            "The page's check against abuse did not finish before sending. Wait a few "
            "seconds and send again (it needs JavaScript)."))
        status = 400
    text = read_description(form, settings, problems)
    sender = read_sender(form, problems)
    values = {"title": text.title, "description": text.description, "name": sender.name,
              "email": sender.email, "member_id": sender.member_id or "",
              "consent": sender.consent}
    if problems:
        count("refused")
        return request_page(sit, state, text, problems, status if status != 200 else 422,
                            values=values)
    known = service.receipt_for(state.token)
    if known is not None:
        # sent before (a resend, a form sent again from the history): its reference, not
        # a refusal because this member is at their limit now
        count("duplicate")
        return _to_receipt(known)
    if not service.allowed(own_address(), sender.email):
        count("refused")
        problems.general.append(gettext(
            "Too many requests were sent from your connection or with this e-mail address "
            "in the last hour. Try again later: your text is kept below, you may copy it."))
        return request_page(sit, state, text, problems, 429, values=values)
    return _submit(sit, state, text, sender, files, values)


def _submit(sit, state, text, sender, files, values):
    from dashboard.assistance.screenshots import Refused, accept_all
    from monitor.assistance.service import Draft

    service = assistance().service
    folder = Path(service.incoming_dir()) / f"form-{secrets.token_hex(8)}"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        try:
            shots = accept_all([(Path(p), name) for p, name in files],
                               assistance().settings.screenshots, folder)
        except Refused as exc:
            count("refused")
            problems = Problems()
            problems.add("screenshots", _said(exc) + " " + gettext(
                "Nothing was kept: choose your screenshots again."))
            return request_page(sit, state, text, problems, exc.status, values=values)
        draft = Draft(
            token=state.token, language=select_language(), category=sit.category,
            title=text.title, description=text.description, name=sender.name,
            email=sender.email, member_id=sender.member_id,
            user_agent=clean_line(request.user_agent.string, USER_AGENT_LIMIT),
            client_address=own_address(), suggestions=state.suggestions)
        receipt = service.submit(draft, shots)
    finally:
        # the service moved the accepted screenshots to the request's folder; anything
        # left (a refusal, a request already sent) goes
        shutil.rmtree(folder, ignore_errors=True)
    return _to_receipt(receipt)


def _to_receipt(receipt):
    """The redirection to ``receipt``'s page (its reference signed in the address)."""
    signed = _receipts().dumps([receipt.reference, bool(receipt.created), receipt.state])
    return redirect(url_for("assistance.receipt", signed=signed), 303)


def _receipts() -> URLSafeSerializer:
    from flask import current_app

    return URLSafeSerializer(current_app.secret_key, salt="vigie.assistance.receipt")


@bp.route("/recu/<signed>")
def receipt(signed: str):
    """The request's reference, its state now, and what happens next."""
    try:
        reference, created, state = _receipts().loads(signed)
    except (BadSignature, ValueError, TypeError):
        abort(404)
    state = assistance().service.state(reference) or state
    return page("assistance/done.html", reference=reference, created=created, state=state,
                receipt_mail=receipt_mail(), current_url=url_for("assistance.choose"))


def receipt_mail() -> bool:
    """Whether the member gets an e-mail receipt (``assistance.receipt`` and mail set)."""
    return bool(getattr(assistance().service, "receipts", False))
