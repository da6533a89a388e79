"""The pages of ``/abonnement/``, each a plain page or form (no JavaScript needed).

- ``/abonnement/`` — the form: an address, all services or chosen groups and services
  (grouped as on the status page; ``?service=…&group=…`` ticks some in advance: the link
  of an incident page), the language of the mails. Its answer says the same words
  whatever the address's state (new, waiting for its confirmation, already subscribed):
  the core mails a confirmation link, or the manage link to an address already
  subscribed, so the page never tells who is subscribed;
- ``/abonnement/confirmer/<token>`` — a page with one button, which confirms: a mail
  scanner that opens every link of a mail confirms nothing. An unknown, used or expired
  link gets one page (404) with a way to start again;
- ``/abonnement/gerer/<token>`` — the manage page: services, language, and the unsubscribe
  button;
- ``/abonnement/u/<token>`` — one-click unsubscribe: ``GET`` shows a page with one button;
  ``POST`` with ``List-Unsubscribe=One-Click`` unsubscribes at once, with no cookie, no
  CSRF field and no redirect (RFC 8058: a mail client posts it alone). The answer is the
  same whether the link's subscription still existed, so a second click or a retry of the
  mail provider is a success too.

When subscriptions are not offered (``subscriptions.enabled: false``, no ``mail.host``),
sign-up and confirmation answer the "not offered" page (404), but the links of the mails
members already hold keep working while the store has their subscriber: the manage page
says no e-mail is sent for now and keeps only its unsubscribe button (a change is refused
with 409), and the one-click unsubscribe works as always. A link whose subscriber is gone
then gets the "not offered" page, the one-click ``POST`` its usual answer.

The sign-up and manage forms carry the path's CSRF field (:data:`blueprint.CSRF`); the
confirmation button, whose link is itself the secret, is refused only when a browser says
it comes from another site. A refusal of the rate limits is a 429 page.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for

from dashboard import visitor_csrf
from dashboard.clients import own_address
from dashboard.formproblems import Problems
from dashboard.i18n import gettext, select_language
from dashboard.pages import snapshot
from dashboard.subscriptions import forms
from dashboard.subscriptions.blueprint import (
    CSRF,
    TOKEN,
    bp,
    csrf_refusal,
    keep_language,
    not_offered,
    offered,
    page,
    refusal,
    service,
    settings,
)

#: the one-click unsubscribe's body (RFC 8058, section 3.1)
ONE_CLICK = ("List-Unsubscribe", "One-Click")
#: seconds a member is told to wait after the rate limit (the limits count the last hour)
RETRY_AFTER = 3600


def offer() -> forms.Offer:
    """The groups and services of the status page, as it shows them."""
    return forms.Offer(snapshot().data.groups)


#: the form field of each field the service names in its refusals
FIELD_OF = {"email": "email", "language": "language", "services": "choice", "groups": "choice"}


def refused_by_service(exc: Any, found: Problems) -> None:
    """Add the service's refusal (:class:`monitor.subscriptions.errors.SubscriptionError`)
    to ``found``, beside its field when it names one, in the page's language."""
    message = exc.message(select_language())
    name = FIELD_OF.get(exc.field or "")
    if name is None:
        found.general.append(message)
    else:
        found.add(name, message)


def too_many(exc: Any):
    """The 429 page: the rate limits of sign-up (per address and per connection)."""
    response = page("subscriptions/refused.html", 429, code=429,
                    message=exc.message(select_language()),
                    back=url_for("subscriptions.subscribe"))
    return (*response, {"Retry-After": str(RETRY_AFTER)})


def unknown_link():
    """The one answer for a link that is unknown, used or expired (when subscriptions are
    not offered: the page saying so, since signing up again is not offered either)."""
    if not offered():
        return not_offered()
    return page("subscriptions/unknown.html", 404,
                confirm_within=settings().confirm_within)


def well_formed(token: str) -> bool:
    """Whether a link's secret can be one (anything else is an unknown link at once)."""
    return TOKEN.match(token) is not None



@bp.route("/", methods=["GET", "POST"])
def subscribe():
    """The sign-up form, and its answer."""
    choices = offer()
    if request.method == "GET":
        return signup_page(forms.Fields(choice=forms.preset(request.args, choices),
                                        language=select_language()), forms.problems())
    found = forms.problems()
    problem = CSRF.problem(request.form.get(visitor_csrf.FIELD))
    if problem is not None:
        found.general.append(visitor_csrf.message(problem))
    fields = forms.read_signup(request.form, choices, found)
    if found:
        status = visitor_csrf.status_of(problem) if problem else 400
        return signup_page(fields, found, status)
    from monitor.subscriptions.service import (
        InvalidSubscription,
        SubscriptionsUnavailable,
        TooManyRequests,
    )

    choice = fields.choice
    try:
        service().request(fields.email, fields.language, everything=choice.everything,
                          services=choice.services, groups=choice.groups,
                          client_address=own_address())
    except TooManyRequests as exc:
        return too_many(exc)
    except InvalidSubscription as exc:
        refused_by_service(exc, found)
        return signup_page(fields, found, 400)
    except SubscriptionsUnavailable:
        return not_offered()
    return page("subscriptions/sent.html", email=fields.email,
                confirm_within=settings().confirm_within,
                current_url=url_for("subscriptions.subscribe"))


def signup_page(fields: forms.Fields, found: Problems, status: int = 200):
    """The sign-up form with what the member chose and what is wrong."""
    return page("subscriptions/subscribe.html", status, fields=fields, problems=found,
                data=snapshot().data, forget_after=settings().forget_unconfirmed_after,
                action=url_for("subscriptions.subscribe",
                                                      **keep_language()),
                current_url=url_for("subscriptions.subscribe"))



@bp.route("/confirmer/<token>", methods=["GET", "POST"])
def confirm(token: str):
    """A page with the button that confirms; the button's answer."""
    if not well_formed(token):
        return unknown_link()
    if request.method == "GET":
        return page("subscriptions/confirm.html", action=url_for(
            "subscriptions.confirm", token=token, **keep_language()),
            current_url=url_for("subscriptions.confirm", token=token))
    if visitor_csrf.foreign_origin():
        return csrf_refusal("other_site", back=url_for("subscriptions.subscribe"))
    view = service().confirm(token)
    if view is None:
        return unknown_link()
    return page("subscriptions/confirmed.html", view=view, names=names_of(view),
                manage=url_for("subscriptions.manage", token=view.manage_token,
                               **keep_language()),
                current_url=url_for("subscriptions.subscribe"))



@bp.route("/gerer/<token>", methods=["GET", "POST"])
def manage(token: str):
    """The subscription's choices, changed; the unsubscribe button."""
    if not well_formed(token):
        return unknown_link()
    view = service().by_manage_token(token)
    if view is None:
        return unknown_link()
    if request.method == "GET":
        return manage_page(view, _fields_of(view), forms.problems(),
                           saved=request.args.get("saved") == "1")
    if not offered():  # the page kept only its unsubscribe button
        return manage_page(view, _fields_of(view), forms.problems(), status=409)
    choices = offer()
    found = forms.problems()
    problem = CSRF.problem(request.form.get(visitor_csrf.FIELD))
    if problem is not None:
        found.general.append(visitor_csrf.message(problem))
    fields = forms.read_change(request.form, choices, found)
    if found:
        return manage_page(view, fields, found,
                           status=visitor_csrf.status_of(problem) if problem else 400)
    from monitor.subscriptions.service import InvalidSubscription, UnknownToken

    choice = fields.choice
    try:
        service().update(token, language=fields.language, everything=choice.everything,
                         services=choice.services, groups=choice.groups)
    except InvalidSubscription as exc:
        refused_by_service(exc, found)
        return manage_page(view, fields, found, status=400)
    except UnknownToken:  # unsubscribed meanwhile (another tab, the one-click link)
        return unknown_link()
    return redirect(url_for("subscriptions.manage", token=token, saved="1",
                            **keep_language()), 303)


def _fields_of(view: Any) -> forms.Fields:
    return forms.Fields(view.email, forms.Choice(bool(view.everything), tuple(view.services),
                                                 tuple(view.groups)), view.language)


def manage_page(view: Any, fields: forms.Fields, found: Problems, *, status: int = 200,
                saved: bool = False):
    """The manage form of ``view`` showing ``fields``."""
    token = view.manage_token
    return page("subscriptions/manage.html", status, view=view, fields=fields,
                problems=found, saved=saved, data=snapshot().data, names=names_of(view),
                action=url_for("subscriptions.manage", token=token, **keep_language()),
                unsubscribe=url_for("subscriptions.unsubscribe", token=token,
                                    **keep_language()),
                current_url=url_for("subscriptions.manage", token=token))


def names_of(view: Any) -> list[str] | None:
    """The names of what ``view`` follows, in the page's language (None: everything)."""
    if view.everything:
        return None
    lang = select_language()
    data = snapshot().data
    chosen_groups = set(view.groups)
    chosen_services = set(view.services)
    found: list[str] = []
    for group in data.groups:
        if group.id is not None and group.id in chosen_groups:
            found.append(gettext("%(group)s (the whole group)",
                                 group=group.name.text(lang) if group.name else group.id))
        for s in group.services:
            if s.id in chosen_services:
                found.append(s.name.text(lang))
    return found



@bp.route("/u/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):
    """One-click unsubscribe (RFC 8058): a page with a button, or the ``POST`` alone."""
    if not well_formed(token):
        return unknown_link()
    if request.method == "GET":
        if service().by_manage_token(token) is None:
            return unknown_link()
        return page("subscriptions/unsubscribe.html", action=url_for(
            "subscriptions.unsubscribe", token=token, **keep_language()),
            current_url=url_for("subscriptions.unsubscribe", token=token))
    if request.form.get(ONE_CLICK[0]) != ONE_CLICK[1]:
        return refusal(400, gettext("This unsubscribe request was not understood: it must "
                                    "carry List-Unsubscribe=One-Click. Use the button of "
                                    "the page."),
                       back=url_for("subscriptions.unsubscribe", token=token,
                                    **keep_language()))
    service().unsubscribe(token)
    return page("subscriptions/unsubscribed.html",
                current_url=url_for("subscriptions.subscribe"))
