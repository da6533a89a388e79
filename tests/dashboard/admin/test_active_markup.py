"""Active HTML in a text meant for the status page is refused, through the admin forms and
the JSON API alike (docs/admin.md promises a refusal, not silent cleaning): classic XSS
vectors, including those that slipped past the first rule (``<img/src=x/onerror=…>``,
entity-encoded ``javascript:``), and control characters the text boundary turns into the
space an event handler needs."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from dashboard.admin.forms import holds_active_markup
from monitor.incidents.models import Notice

API = "/admin/api/v1"

VECTORS = [
    "<img/src=x/onerror=alert(1)>",
    "<img src=x onerror=alert(1)>",
    '<IMG SRC="x" ONERROR="alert(1)">',
    '<img src="x"onerror="alert(1)">',
    "<img src=x onerror\n=alert(1)>",
    "<img src=x\x00onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<body onload=alert(1)>",
    "<input autofocus onfocus=alert(1)>",
    "<video><source onerror=alert(1)></video>",
    "<marquee onstart=alert(1)>",
    "<script>alert(1)</script>",
    "<scr<script>ipt>alert(1)</script>",
    "<iframe src=//evil.example></iframe>",
    "<iframe srcdoc='&lt;script&gt;alert(1)&lt;/script&gt;'>",
    "<object data=//evil.example/x.swf>",
    "<embed src=//evil.example/x.swf>",
    "<math><maction actiontype=statusline xlink:href=javascript:alert(1)>x</maction></math>",
    "<style>@import '//evil.example/x.css';</style>",
    "<link rel=stylesheet href=//evil.example/x.css>",
    "<meta http-equiv=refresh content='0;url=//evil.example'>",
    "<base href=//evil.example/>",
    "<form action=//evil.example><button>OK</button></form>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href=" JaVaScRiPt:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href="jav\tascript:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    '<a href="&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;&#x3A;alert(1)">x</a>',
    '<a href="&#0000106&#0000097vascript:alert(1)">x</a>',
    '<a href="javascript&colon;alert(1)">x</a>',
    '<a href="java&NewLine;script:alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "[cliquez ici](javascript:alert(1))",
    "[cliquez ici](jav&#x61;script:alert(1))",
    "[cliquez ici](<javascript:alert(1)>)",
    "[cliquez ici][1]\n\n[1]: javascript:alert(1)",
    "<javascript:alert(1)>",
    '<div style="background:url(javascript:alert(1))">x</div>',
]

HARMLESS = [
    "Entre **22 h** et 23 h : *coupure* du [courrier](https://exemple.coop/courrier).",
    "La sauvegarde passe de on à off ; le mode online reste actif.",
    "Les données (data) sont copiées ; voir <https://exemple.coop/aide>.",
    "<b>Important</b> : redémarrez Thunderbird.",
    "x < y et z > 3 (comparaison)",
]


def notices(store) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(Notice))


@pytest.mark.parametrize("vector", VECTORS)
def test_the_notice_form_refuses_active_html(admin, store, vector):
    before = notices(store)
    response = admin.post("/admin/notices", {"level": "info", "title_fr": "Information",
                                             "text_fr": f"Bonjour. {vector}"})
    assert response.status_code == 422
    assert "HTML actif" in response.get_data(as_text=True)
    assert notices(store) == before


@pytest.mark.parametrize("vector", VECTORS)
def test_the_api_refuses_active_html(admin_app, token, store, vector):
    before = notices(store)
    response = admin_app.test_client().post(
        f"{API}/notices", json={"title_fr": "Information", "text_fr": f"Bonjour. {vector}"},
        headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 422, response.get_data(as_text=True)
    body = response.get_json()
    assert body["field"] == "text_fr" and "active HTML" in body["message_en"]
    assert notices(store) == before


def test_a_title_with_an_event_handler_is_refused_too(admin):
    response = admin.post("/admin/incidents", {
        "services": ["mail"], "title_fr": "<img/src=x/onerror=alert(1)>",
        "message_fr": "Nous regardons.", "impact": "major_outage"})
    assert response.status_code == 422
    assert "HTML actif" in response.get_data(as_text=True)


@pytest.mark.parametrize("text", HARMLESS)
def test_ordinary_text_and_markdown_pass(text):
    assert not holds_active_markup(text)

