"""The overview's banner: it names what is broken and says the rest works, in correct
French and English for one service or several, its tone scaled to what is affected."""

from __future__ import annotations

import pytest

from dashboard.banner import banner, sentence, tone
from dashboard.views import PageData, ServiceView
from monitor.words import Bilingual
from monitor.state import ServiceStatus as S

#: the demo's nine services
NINE = [("web", "Hébergement web", "Web hosting"), ("panel", "Espace membre", "Member panel"),
        ("dns", "Noms de domaine", "Domain names"), ("backups", "Sauvegardes", "Backups"),
        ("nextcloud", "Nextcloud", "Nextcloud"), ("forum", "Forum", "Forum"),
        ("lists", "Listes de diffusion", "Mailing lists"), ("mail", "Messagerie", "Mail"),
        ("webmail", "Webmail", "Webmail")]


def services(statuses: dict[str, S], names=NINE) -> list[ServiceView]:
    return [ServiceView(id=i, name=Bilingual(fr, en), group=None, description=None,
                        status=statuses.get(i, S.OPERATIONAL), since=None, checks=(), days=(),
                        uptime=None) for i, fr, en in names]


CASES = [
    # one service down of nine: named, the rest works, orange not red
    ({"webmail": S.MAJOR_OUTAGE}, "partial",
     "Le service Webmail est en panne ; les autres services fonctionnent.",
     "The Webmail service is down; the other services work."),
    ({"webmail": S.MAJOR_OUTAGE, "nextcloud": S.MAJOR_OUTAGE}, "partial",
     "Les services Nextcloud et Webmail sont en panne ; les autres services fonctionnent.",
     "The Nextcloud and Webmail services are down; the other services work."),
    ({"webmail": S.MAJOR_OUTAGE, "nextcloud": S.MAJOR_OUTAGE, "forum": S.MAJOR_OUTAGE},
     "partial",
     "Les services Nextcloud, Forum et Webmail sont en panne ; "
     "les autres services fonctionnent.",
     "The Nextcloud, Forum, and Webmail services are down; the other services work."),
    # slow is not down
    ({"nextcloud": S.DEGRADED}, "minor",
     "Le service Nextcloud est ralenti ; les autres services fonctionnent.",
     "The Nextcloud service is slow; the other services work."),
    ({"nextcloud": S.DEGRADED, "web": S.DEGRADED}, "minor",
     "Les services Hébergement web et Nextcloud sont ralentis ; "
     "les autres services fonctionnent.",
     "The Web hosting and Nextcloud services are slow; the other services work."),
    ({"mail": S.PARTIAL_OUTAGE, "nextcloud": S.DEGRADED, "forum": S.MAINTENANCE}, "partial",
     "Le service Messagerie est en partie en panne, le service Nextcloud est ralenti et "
     "le service Forum est en maintenance ; les autres services fonctionnent.",
     "The Mail service is partly down, the Nextcloud service is slow, and the Forum "
     "service is under maintenance; the other services work."),
    ({"backups": S.MAINTENANCE}, "maintenance",
     "Le service Sauvegardes est en maintenance ; les autres services fonctionnent.",
     "The Backups service is under maintenance; the other services work."),
    ({"dns": S.UNKNOWN}, "unknown",
     "L'état du service Noms de domaine n'est pas encore connu ; "
     "les autres services fonctionnent.",
     "The state of the Domain names service is not known yet; the other services work."),
    # more than half down: now it is a major outage
    ({i: S.MAJOR_OUTAGE for i, _, _ in NINE[:5]}, "major",
     "Les services Hébergement web, Espace membre, Noms de domaine, Sauvegardes et "
     "Nextcloud sont en panne ; les autres services fonctionnent.",
     "The Web hosting, Member panel, Domain names, Backups, and Nextcloud services are "
     "down; the other services work."),
    ({i: S.MAJOR_OUTAGE for i, _, _ in NINE}, "major",
     "Tous les services sont en panne.", "All services are down."),
    ({i: S.MAINTENANCE for i, _, _ in NINE}, "maintenance",
     "Tous les services sont en maintenance.", "All services are under maintenance."),
    ({i: S.UNKNOWN for i, _, _ in NINE}, "unknown",
     "L'état des services n'est pas encore connu.", "The state of the services is not known yet."),
    ({}, "operational",
     "Tous les services fonctionnent normalement", "All services are working normally"),
]


@pytest.mark.parametrize("statuses, expected_tone, fr, en", CASES)
def test_the_banner_names_what_is_affected_and_says_the_rest_works(app, statuses,
                                                                    expected_tone, fr, en):
    found = services(statuses)
    assert tone(found) == expected_tone
    for lang, expected in (("fr", fr), ("en", en)):
        with app.test_request_context(f"/?lang={lang}"):
            assert sentence(found, lang).replace("\xa0", " ") == expected


@pytest.mark.parametrize("statuses, expected_tone, fr, en", [
    ({"forum": S.MAJOR_OUTAGE}, "partial",
     "Le service Forum est en panne ; l'autre service fonctionne.",
     "The Forum service is down; the other service works."),
    ({"forum": S.MAJOR_OUTAGE, "mail": S.DEGRADED}, "partial",
     "Le service Forum est en panne et le service Messagerie est ralenti.",
     "The Forum service is down and the Mail service is slow."),
])
def test_a_page_of_two_services(app, statuses, expected_tone, fr, en):
    found = services(statuses, [("forum", "Forum", "Forum"), ("mail", "Messagerie", "Mail")])
    assert tone(found) == expected_tone
    for lang, expected in (("fr", fr), ("en", en)):
        with app.test_request_context(f"/?lang={lang}"):
            assert sentence(found, lang) == expected


def test_a_page_of_one_service_down_is_a_major_outage(app):
    found = services({"forum": S.MAJOR_OUTAGE}, [("forum", "Forum", "Forum")])
    with app.test_request_context("/?lang=fr"):
        assert sentence(found, "fr") == "Le service Forum est en panne."
    assert tone(found) == "major"


def test_the_banner_of_a_page_and_what_its_script_compares(app):
    found = {s.id: s for s in services({"webmail": S.MAJOR_OUTAGE, "nextcloud": S.DEGRADED})}
    data = PageData(built_at=0, groups=(), services=found, open_incidents=(),
                    recent_incidents=(), active_maintenance=(), upcoming_maintenance=(),
                    past_maintenance=(), notices=())
    with app.test_request_context("/?lang=en"):
        shown = banner(data, "en")
    assert (shown.tone, shown.symbol) == ("partial", "!")
    assert shown.state == "nextcloud:degraded,webmail:major_outage"
    assert shown.hint == "We know about it and are working on it. The details are below."
    # the API's word is unchanged (Statuspage's indicator semantics)
    assert data.banner == "major"


def test_the_overview_names_the_seeded_trouble(client):
    page = client.get("/").get_data(as_text=True)
    assert 'data-tone="partial"' in page and 'data-banner="disturbed"' in page
    assert 'data-state="mail:partial_outage,nextcloud:degraded"' in page
    assert ("Le service Messagerie est en partie en panne et le service Nextcloud est "
            "ralenti ; les autres services fonctionnent.") in page


@pytest.mark.parametrize("statuses, fr, en", [
    ({"webmail": S.MAJOR_OUTAGE}, "Certains services sont en panne", "Some services are down"),
    ({"nextcloud": S.DEGRADED}, "Certains services sont perturbés",
     "Some services are disturbed"),
    ({i: S.MAJOR_OUTAGE for i, _, _ in NINE[:5]}, "Panne majeure", "Major outage"),
    ({}, "Tous les services fonctionnent normalement", "All services are working normally"),
])
def test_the_api_and_badge_words_follow_the_banners_tone(app, statuses, fr, en):
    """Issue 13: one webmail down of nine made the badge and the API say "Panne majeure"."""
    from dashboard.banner import overall_words

    found = services(statuses)
    for lang, expected in (("fr", fr), ("en", en)):
        with app.test_request_context(f"/?lang={lang}"):
            assert overall_words(found) == expected
