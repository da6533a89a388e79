"""The assistance request survives the outbox's JSON exactly (a plugin sees after a restart
what it would have seen before)."""

import pytest

from monitor.assistance.request import (
    AssistanceRequest,
    Screenshot,
    Suggestion,
    request_from_json,
    request_to_json,
)


def _request(**changes) -> AssistanceRequest:
    base = dict(
        reference="DEM-20261206-7KQ2", idempotency_key="assistance:DEM-20261206-7KQ2",
        at=1765000000.5, language="fr", category="nextcloud", service_id="nextcloud",
        service_name="Nextcloud", title="Synchronisation bloquée", description="Depuis ce matin…",
        name="Alice", email="alice@example.org", member_id="m-42", user_agent="Firefox",
        status_at_send="degraded", incident_reference="INC-20261206-0001",
        failing_reasons=("le serveur a répondu 502",),
        suggestions=(Suggestion("guide", "Synchroniser", "https://guides.example/sync",
                                "Réinstaller le client", "guides", opened=True),),
        screenshots=(Screenshot("capture.png", "/data/a/1.png", "image/png", 1234, "ab" * 32),))
    base.update(changes)
    return AssistanceRequest(**base)


@pytest.mark.parametrize("request_", [_request(), _request(service_id=None, category="account",
                                                           suggestions=(), screenshots=(),
                                                           failing_reasons=())])
def test_round_trip_is_exact(request_):
    again = request_from_json(request_to_json(request_))
    assert again == request_
    assert isinstance(again.screenshots, tuple) and isinstance(again.suggestions, tuple)


def test_another_payload_is_refused():
    with pytest.raises(ValueError, match="not an assistance request"):
        request_from_json('{"type": "IncidentEvent", "data": {}}')
