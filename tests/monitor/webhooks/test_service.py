"""The volunteers' operations on endpoints: hostile inputs refused naming the field, the
secret shown once and written nowhere else (audit log, lists, repr), the roles."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from monitor.access import Actor, Forbidden
from monitor.incidents.inputs import InvalidInput, NotFound
from monitor.store.audit import AuditEntry
from monitor.webhooks import service
from monitor.webhooks.signing import key_of


@pytest.mark.parametrize(("url", "why"), [
    ("http://leak.example.net/hook", "Only https://"),
    ("ftp://leak.example.net/hook", "Not a web address"),
    ("javascript:alert(1)", "Not a web address"),
    ("https:///nohost", "Not a web address"),
    ("https://leak.example.net/a b", "Not a web address"),
    ("https://leak.example.net/\u202ehook", "Not a web address"),
    ("https://leak.example.net/" + "a" * 3000, "Text too long"),
    ("", "required"),
    ("http://10.0.0.5/hook", "Only https://"),
])
def test_a_bad_address_is_refused_without_being_repeated(url, why):
    with pytest.raises(InvalidInput) as refused:
        service.url_field(url)
    assert refused.value.field == "url" and why in refused.value.message_en
    assert "leak.example.net" not in refused.value.message_en
    assert refused.value.message_fr != refused.value.message_en


@pytest.mark.parametrize("url", ["https://partner.example.org/hooks?token=x",
                                 "http://127.0.0.1:8080/hook", "http://[::1]/hook",
                                 "http://localhost/hook", "http://127.5.0.1/hook"])
def test_https_anywhere_and_http_to_this_machine_are_accepted(url):
    assert service.url_field(url) == url


async def test_hostile_values_are_refused_naming_their_field(hooks):
    ops = hooks.ops
    cases = [({"name": "x" * 5000}, "name"), ({"name": "  "}, "name"),
             ({"events": ["incident.exploded"]}, "events"), ({"events": []}, "events"),
             ({"services": ["nope"]}, "services"), ({"description": "d" * 600}, "description")]
    for values, field in cases:
        args = {"name": "Partenaire", "url": "https://partner.example.org/h", **values}
        with pytest.raises(InvalidInput) as refused:
            hooks.change(lambda s, args=args: ops.add_endpoint(s, **args))
        assert refused.value.field == field, values
    with pytest.raises(NotFound):
        hooks.change(lambda s: ops.rotate_secret(s, 99))
    assert hooks.change(lambda s: service.endpoints(s)) == []


async def test_the_secret_is_shown_once_and_written_nowhere_else(hooks):
    ops = hooks.ops
    new = hooks.change(lambda s: ops.add_endpoint(
        s, name="Partenaire\x00 <b>", url="https://partner.example.org/h?token=abc",
        events="incident.opened,incident.resolved", services=["mail"],
        actor=Actor.user("camille", "admin", "cli")))
    assert new.secret.startswith("whsec_") and len(key_of(new.secret)) == 32
    assert new.secret not in repr(new)
    rotated = hooks.change(lambda s: ops.rotate_secret(s, new.endpoint.id))
    hooks.change(lambda s: ops.disable_endpoint(s, 1, reason="en pause"))
    hooks.change(lambda s: ops.enable_endpoint(s, 1))
    [record] = hooks.change(service.endpoints)
    assert record.name == "Partenaire <b>"  # made safe, kept as text
    assert record.events == ("incident.opened", "incident.resolved")
    assert record.services == ("mail",) and record.enabled and record.created_by == "camille"
    assert new.secret not in repr(record) and "secret" not in record.__slots__
    with hooks.harness.store.session() as s:
        audit = list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert [a.action for a in audit] == ["webhook.add", "webhook.rotate", "webhook.disable",
                                         "webhook.enable"]
    text = json.dumps([[a.before, a.after] for a in audit])
    assert new.secret not in text and rotated.secret not in text
    assert audit[0].after["name"] == "Partenaire <b>" and audit[0].actor == "camille"
    hooks.change(lambda s: ops.remove_endpoint(s, 1))
    assert hooks.change(service.endpoints) == []


async def test_only_administrators_manage_endpoints(hooks):
    editor = Actor.user("dominique", "editor", "web")
    with pytest.raises(Forbidden):
        hooks.change(lambda s: hooks.ops.add_endpoint(
            s, name="x", url="https://partner.example.org/h", actor=editor))


def test_maintenance_cancelled_is_an_event_type_endpoints_choose():
    events_field = service.events_field
    assert events_field(None)[-1] == "maintenance.cancelled"  # a new endpoint: every type
    assert events_field("maintenance.cancelled,maintenance.announced") == [
        "maintenance.announced", "maintenance.cancelled"]
