"""The outbox rows of member mails: the job round-trips, the worker hands it to the
member-mail plugin, and a delivered confirmation keeps no token."""

from __future__ import annotations

import pytest

from monitor.incidents.outbox import OutboxWorker
from monitor.plugins import build_plugin_manager, hookimpl
from monitor.subscriptions.jobs import (
    MEMBER_MAIL_PLUGIN,
    SPENT_TOKEN,
    MemberMailJob,
    spent,
)


def test_a_job_round_trips():
    job = MemberMailJob("event", "incident:4:opened:batch:0", (3, 5, 8),
                        event='{"type": "incident"}', thread="incident:4")
    assert MemberMailJob.from_json(job.to_json()) == job


@pytest.mark.parametrize("payload", [
    "[]", '{"kind": "other"}', '{"kind": "confirm", "idempotency_key": "k", '
    '"subscriber_ids": ["1"]}', '{"kind": "confirm", "subscriber_ids": [1]}',
    '{"kind": "confirm", "idempotency_key": "k", "subscriber_ids": [1], "token": 5}'])
def test_a_payload_that_is_no_job_is_refused(payload):
    with pytest.raises(ValueError):
        MemberMailJob.from_json(payload)


def test_spent_blanks_a_confirmation_token_only():
    confirm = MemberMailJob("confirm", "k", (1,), token="secret")
    assert MemberMailJob.from_json(spent(confirm.to_json())).token == SPENT_TOKEN
    assert spent(MemberMailJob("confirm", "k", (1,)).to_json()) is None
    assert spent(MemberMailJob("event", "k", (1,), event="{}").to_json()) is None
    assert spent("not json at all") is None


class MemberMail:
    """Stands in for the mail package's plugin: records the jobs it is given."""

    def __init__(self) -> None:
        self.jobs: list[MemberMailJob] = []

    @hookimpl
    def vigie_member_mail(self, job):
        self.jobs.append(job)


async def test_the_worker_delivers_the_job_and_forgets_its_token(setup):
    setup.ask()
    token = setup.last_token()
    mail = MemberMail()
    pm = build_plugin_manager(load_entry_points=False,
                              extra_plugins=[(MEMBER_MAIL_PLUGIN, mail)])
    worker = OutboxWorker(setup.store.session, pm, write_sessions=setup.store.write_session,
                          clock=setup.clock)
    assert await worker.run_once()
    [job] = mail.jobs
    assert isinstance(job, MemberMailJob) and job.token == token
    [entry] = setup.outbox()
    assert entry.status == "delivered" and token not in entry.payload
    assert MemberMailJob.from_json(entry.payload).token == SPENT_TOKEN
    # the member's link still works: the table has the hash
    assert setup.service.confirm(token) is not None
