"""The steps of the assistance path, each a plain page or form (no JavaScript needed).

1. ``/assistance/`` — which service (grouped as on the status page) or which category;
   ``/assistance/<choice>/`` — its live status; when an incident or a maintenance touches
   it or its group, "we know" comes first with the latest update, the guides and how to
   follow it, and the member either stops there ("thanks, I'll wait": ``incident_known``)
   or says the problem is something else;
2. ``/assistance/<choice>/decrire`` — a title and a description; ``…/suggestions`` —
   the guides and forum threads that may answer them, each opened through a signed link
   that records it; "this guide solved my problem" (``guide_helped``/``forum_helped``) or
   "I continue" (``continued``);
3. ``/assistance/<choice>/demande`` — the request form, posted to ``/assistance/envoyer``
   (:mod:`dashboard.assistance.send`).

Outcomes are counted when the member says so with a button, never on a mere page view.
"""

from __future__ import annotations

from dataclasses import asdict

from flask import abort, redirect, request, url_for

from dashboard.assistance import csrf, formstate
from dashboard.assistance.blueprint import (
    assistance,
    bp,
    count,
    csrf_message,
    page,
    refusal,
)
from dashboard.assistance.forms import Description, Problems, read_description
from dashboard.assistance.situation import Situation, categories, find
from dashboard.i18n import gettext, select_language
from dashboard.pages import snapshot
from monitor.assistance.request import AssistanceQuery

#: outcome counted by "this solved my problem", by kind of suggestion
HELPED = {"guide": "guide_helped", "forum": "forum_helped"}


def situation_of(category: str) -> Situation:
    """The member's choice and what is known about it (a 404 for an unknown choice)."""
    found = find(snapshot().data, assistance().settings, category)
    if found is None:
        abort(404)
    return found


def common(sit: Situation) -> dict:
    """Template values every step of a choice uses."""
    data = snapshot().data
    return {"sit": sit, "data": data, "now": data.built_at}


@bp.route("/")
def choose():
    """Step 1: the services as grouped on the status page, then the other categories."""
    data = snapshot().data
    return page("assistance/choose.html", data=data,
                categories=categories(assistance().settings),
                current_url=url_for("assistance.choose"))


@bp.route("/<category>/")
def situation(category: str):
    """Step 1, answered: the live status; what is already known comes first, else the
    description form at once."""
    sit = situation_of(category)
    template = "assistance/known.html" if sit.known else "assistance/describe.html"
    return page(template, form={}, problems=Problems(),
                current_url=url_for("assistance.situation", category=category), **common(sit))


@bp.route("/<category>/merci", methods=["POST"])
def wait(category: str):
    """"Thanks, I'll wait": the member stops at the known incident (``incident_known``)."""
    sit = situation_of(category)
    problem = csrf.problem(request.form.get(csrf.FIELD))
    if problem is not None:
        return refusal(403 if problem == "other_site" else 400, csrf_message(problem),
                       back=url_for("assistance.situation", category=category))
    if sit.known:
        count("incident_known")
    return page("assistance/thanks.html", reason="known",
                current_url=url_for("assistance.situation", category=category), **common(sit))


@bp.route("/<category>/decrire")
def describe(category: str):
    """Step 2: the title and the description (after "my problem is something else")."""
    sit = situation_of(category)
    return page("assistance/describe.html", form={}, problems=Problems(), after_known=True,
                current_url=url_for("assistance.describe", category=category), **common(sit))


@bp.route("/<category>/suggestions", methods=["GET", "POST"])
def suggestions(category: str):
    """Step 2, answered: the guides and threads that fit the member's words (straight to
    the request form when there are none)."""
    sit = situation_of(category)
    if request.method == "GET":  # a reload, or the language switch: the form again
        return redirect(url_for("assistance.describe", category=category), 303)
    problems = Problems()
    problem = csrf.problem(request.form.get(csrf.FIELD))
    if problem is not None:
        problems.general.append(csrf_message(problem))
    text = read_description(request.form, assistance().settings, problems)
    if problems:
        return page("assistance/describe.html", 400 if problem else 422, form=asdict(text),
                    problems=problems, after_known=sit.known,
                    current_url=url_for("assistance.describe", category=category),
                    **common(sit))
    found = assistance().service.suggest(query_of(sit, text))
    state = formstate.FormState(formstate.new_token(), sit.category,
                                formstate.suggestions_of(found))
    if not state.suggestions:
        return request_page(sit, state, text, Problems(), none_found=True)
    by_kind: dict[str, list[int]] = {"guide": [], "forum": []}
    for index, found_one in enumerate(state.suggestions):
        by_kind["forum" if found_one.kind == "forum" else "guide"].append(index)
    return page("assistance/suggestions.html", form=asdict(text), state=state,
                state_field=formstate.dumps(state), links=open_links(state), by_kind=by_kind,
                current_url=url_for("assistance.describe", category=category), **common(sit))


def query_of(sit: Situation, text: Description) -> AssistanceQuery:
    """What the plugins look for an answer to."""
    lang = select_language()
    return AssistanceQuery(category=sit.category, service_id=sit.service_id,
                           service_name=sit.label.text(lang), group=(sit.group.id if sit.group
                                                                     else None),
                           text=f"{text.title}\n{text.description}", language=lang)


def open_links(state: formstate.FormState) -> list[str]:
    """The signed ``/assistance/ouvrir/…`` address of each suggestion."""
    return [url_for("assistance.open_suggestion", link=formstate.open_link(state, i))
            for i in range(len(state.suggestions))]


@bp.route("/ouvrir/<link>")
def open_suggestion(link: str):
    """Go to a proposed guide or thread, and remember that the member opened it."""
    found = formstate.follow(link)
    if found is None:
        abort(404)
    token, index, url = found
    return formstate.record_opened(redirect(url, 303), token, index)


@bp.route("/resolu", methods=["POST"])
def solved():
    """"This guide solved my problem" (``guide_helped`` or ``forum_helped``)."""
    state, _expired = formstate.loads(request.form.get("state"))
    problem = csrf.problem(request.form.get(csrf.FIELD))
    if problem is not None:
        return refusal(403 if problem == "other_site" else 400, csrf_message(problem),
                       back=url_for("assistance.choose"))
    index = request.form.get("index", "")
    if state is None or not index.isdigit() or int(index) >= len(state.suggestions):
        return refusal(400, gettext("This answer could not be read. Thank you all the same!"),
                       back=url_for("assistance.choose"))
    chosen = state.suggestions[int(index)]
    count(HELPED.get(chosen.kind, "guide_helped"))
    return page("assistance/thanks.html", reason="solved", suggestion=chosen,
                current_url=url_for("assistance.choose"))


@bp.route("/<category>/demande", methods=["GET", "POST"])
def request_form(category: str):
    """Step 3: the request form; after "I continue" (``continued``) it keeps the title,
    the description and the suggestions of step 2."""
    sit = situation_of(category)
    if request.method == "GET":
        state = formstate.FormState(formstate.new_token(), sit.category)
        return request_page(sit, state, Description(), Problems())
    problems = Problems()
    problem = csrf.problem(request.form.get(csrf.FIELD))
    if problem is not None:
        problems.general.append(csrf_message(problem))
    state, _expired = formstate.loads(request.form.get("state"))
    if state is None or state.category != sit.category:
        state = formstate.FormState(formstate.new_token(), sit.category)
    elif problem is None and state.suggestions:
        count("continued")
    text = Description(title=str(request.form.get("title") or ""),
                       description=str(request.form.get("description") or ""))
    return request_page(sit, state, text, problems)


def request_page(sit: Situation, state: formstate.FormState, text, problems: Problems,
                 status: int = 200, *, none_found: bool = False, values=None):
    """The request form (step 3) for ``state``, with the member's words and what is wrong."""
    from dashboard.assistance import pow

    settings = assistance().settings
    bits = settings.limits.proof_of_work
    values = dict(values or {})
    values.setdefault("title", text.title)
    values.setdefault("description", text.description)
    return page("assistance/request.html", status, form=values, problems=problems,
                state=state, state_field=formstate.dumps(state),
                challenge=pow.challenge(state.token, bits) if bits else None, bits=bits,
                limits=settings.screenshots, none_found=none_found,
                current_url=url_for("assistance.request_form", category=sit.category),
                **common(sit))


@bp.app_template_global("known_summary")
def _known_summary(sit: Situation) -> str:
    from dashboard.assistance.situation import summary

    return summary(sit, select_language())
