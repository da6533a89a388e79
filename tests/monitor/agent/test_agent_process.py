"""A real ``vigie agent`` process against the stand-in server and real local targets.

Every wait is on an event (a request the stand-in or the target served) with a generous
deadline that only stops a hung test; the checks run every second.
"""

from __future__ import annotations

import json

import pytest

from tests.monitor.agent.standin import (
    Agent,
    StandIn,
    Target,
    http_check,
    spooled_seqs,
)



@pytest.fixture
def target():
    with Target() as server:
        yield server


def ok_checks(target: Target, n: int = 3) -> list[dict]:
    return [http_check(f"web/c{i}", f"{target.url}/ok/{i}") for i in range(n)]


def contiguous(seqs: list[int]) -> bool:
    return seqs == list(range(1, len(seqs) + 1))


def test_results_arrive_in_seq_order_each_once(target, tmp_path):
    checks = [*ok_checks(target), http_check("web/bad", f"{target.url}/fail/x")]
    with StandIn(checks) as standin, Agent(standin, tmp_path) as agent:
        standin.wait(lambda: len(standin.stored) >= 20, "20 results")
        output = agent.stop()
        state = json.loads((agent.data_dir / "spool" / "state.json").read_text())

    # stopped by SIGTERM with the server there: what it held was sent before it left
    assert state["floor"] == state["acked"] == max(standin.stored) == state["next_seq"] - 1

    assert contiguous(standin.order), standin.order  # in seq order, none missing
    assert standin.duplicates == 0
    pushes = [p for p in standin.pushes if p.status == 200]
    for push in pushes:
        assert push.seqs == list(range(push.seqs[0], push.seqs[0] + len(push.seqs)))
        assert push.body["agent"] == "lyon-1" and push.body["dropped"] == 0
    assert [p.body["batch"] for p in pushes] == list(range(1, len(pushes) + 1))
    assert len({p.body["boot"] for p in pushes}) == 1
    bad = [standin.stored[s] for s in standin.seqs_of("web/bad")]
    assert {r["status"] for r in bad} == {"down"}
    assert bad[0]["reason"]["code"] == "http.status" and "503" in bad[0]["reason"]["en"]
    good = standin.stored[standin.seqs_of("web/c0")[0]]
    assert good["status"] == "up" and good["samples"]["http_status_code"] == 200
    assert good["started_at"] > 0 and good["duration"] >= 0
    assert standin.token not in output  # never logged, even at debug level


def test_server_away_results_wait_on_disk_and_arrive_in_order(target, tmp_path):
    with StandIn(ok_checks(target)) as standin, Agent(standin, tmp_path) as agent:
        standin.wait(lambda: len(standin.stored) >= 3, "first results")
        standin.stop()
        seen = max(spooled_seqs(agent.data_dir), default=0)
        target.wait(lambda: max(spooled_seqs(agent.data_dir), default=0) >= seen + 6,
                    "results kept on disk while the server is away")
        # restarted while the server is still away: it runs the checks it saved
        agent.stop()
        agent.start()
        agent.wait_line("cannot fetch the checks", "the restarted agent misses the server")
        seen = max(spooled_seqs(agent.data_dir))
        target.wait(lambda: max(spooled_seqs(agent.data_dir)) >= seen + 6,
                    "the restarted agent runs its saved checks")
        produced = max(spooled_seqs(agent.data_dir))
        standin.start()
        standin.wait(lambda: max(standin.stored, default=0) >= produced,
                     "every result of the outage sent")
        agent.stop()

    assert contiguous(standin.order), standin.order  # none lost, in order
    assert standin.duplicates == 0  # none twice
    assert all(p.body["dropped"] == 0 for p in standin.pushes if p.status == 200)
    first_back = next(p for p in standin.pushes if p.status == 200 and p.seqs[0] > 3)
    assert len(first_back.seqs) >= 12  # what waited on disk went in one batch


def test_beyond_max_buffered_the_oldest_are_dropped_and_counted(target, tmp_path):
    with StandIn(ok_checks(target)) as standin, \
            Agent(standin, tmp_path, "--max-buffered", "5") as agent:
        standin.wait(lambda: len(standin.stored) >= 2, "first results")
        standin.stop()
        seen = max(spooled_seqs(agent.data_dir), default=0)
        target.wait(lambda: max(spooled_seqs(agent.data_dir), default=0) >= seen + 12,
                    "more results than the bound while the server is away")
        standin.start()
        first_back = standin.wait(
            lambda: next((p for p in standin.pushes if p.status == 200
                          and p.body["dropped"] > 0), None), "a push after the outage")
        agent.stop()

    assert first_back.body["dropped"] >= 7
    below = set(range(1, first_back.seqs[0]))
    missing = below - set(standin.stored)
    # the oldest of the outage were dropped, exactly as many as said
    assert len(missing) == first_back.body["dropped"]
    assert min(missing) > 2 and max(missing) == first_back.seqs[0] - 1
    assert standin.duplicates == 0


def test_kill_9_resends_the_batch_in_flight_only_and_seq_goes_on(target, tmp_path):
    with StandIn(ok_checks(target)) as standin, Agent(standin, tmp_path) as agent:
        standin.wait(lambda: len(standin.stored) >= 3, "first results")
        standin.hold_next_push()
        standin.wait(lambda: standin.holding, "a push stored, its answer held")
        in_flight = standin.last_push().seqs
        agent.kill()
        standin.release()
        agent.start()
        standin.wait(lambda: max(standin.stored) >= max(in_flight) + 8,
                     "results of the restarted agent")
        agent.stop()

    boots = [p.body["boot"] for p in standin.pushes if p.status == 200]
    assert len(set(boots)) == 2
    resent = next(p for p in standin.pushes if p.status == 200 and p.body["boot"] == boots[-1])
    assert resent.seqs[: len(in_flight)] == in_flight  # the batch in flight, again
    assert standin.duplicates == len(in_flight)  # and nothing else twice
    assert standin.conflicts == 0  # no seq handed out twice
    last = standin.pushes[-1].body
    missing = set(range(1, max(standin.stored) + 1)) - set(standin.stored)
    # a kill while a result was being written loses it: counted, never silent
    assert len(missing) == last["dropped"] <= 1


def test_a_revoked_token_stops_the_agent_with_78_and_the_servers_message(target, tmp_path):
    with StandIn(ok_checks(target)) as standin, Agent(standin, tmp_path) as agent:
        standin.wait(lambda: len(standin.stored) >= 2, "first results")
        standin.revoked = True
        code = agent.wait_exit()
        stored = len(standin.stored)

    assert code == 78
    assert "was revoked by a volunteer" in agent.output
    assert "token_revoked" in agent.output
    assert standin.token not in agent.output
    assert stored == len(standin.order)
    revoked_at = next(i for i, (_, _, status, _) in enumerate(standin.requests)
                      if status == 401)
    assert all(status == 401 for _, _, status, _ in standin.requests[revoked_at:])


def test_an_unknown_token_stops_the_agent_at_start(target, tmp_path):
    with StandIn(ok_checks(target)) as standin, \
            Agent(standin, tmp_path, token="vga_not-the-one") as agent:
        code = agent.wait_exit()
    assert code == 78 and "This token is unknown" in agent.output
    assert "vga_not-the-one" not in agent.output


def test_checks_are_fetched_with_their_etag_and_changes_are_taken(target, tmp_path):
    with StandIn(ok_checks(target, 2)) as standin, Agent(standin, tmp_path):
        first_revision = standin.revision
        standin.wait(lambda: len(standin.checks_requests()) >= 3, "three fetches")
        with standin.changed:
            standin.checks.append(http_check("web/new", f"{target.url}/ok/new"))
        standin.wait(lambda: standin.seqs_of("web/new"), "a result of the new check")
        fetches = standin.checks_requests()

    (status, headers), *later = fetches
    assert status == 200 and "If-None-Match" not in headers
    unchanged = [(s, h) for s, h in later if h.get("If-None-Match") == f'"{first_revision}"']
    assert len(unchanged) >= 2
    assert {s for s, _ in unchanged[:-1]} == {304}
    assert unchanged[-1][0] == 200  # the list changed: sent again


def test_checks_the_agent_cannot_run_report_unknown_with_the_reason(target, tmp_path):
    checks = [
        http_check("web/withheld", f"{target.url}/ok/1", basic_auth={"username": "u"}),
        http_check("web/shared", f"{target.url}/ok/2",
                   basic_auth={"username": "u", "password": "p4ss"}),
        {"key": "web/plugin", "kind": "no_such_kind", "interval": 1.0, "timeout": 5.0,
         "confirm": 1, "retry_interval": 1.0, "options": {}},
        http_check("web/invalid", "ftp://127.0.0.1/"),
    ]
    with StandIn(checks) as standin, Agent(standin, tmp_path):
        standin.wait(lambda: all(len(standin.seqs_of(c["key"])) >= 2 for c in checks),
                     "two results of each check")

    def last(key: str) -> dict:
        return standin.stored[standin.seqs_of(key)[-1]]

    withheld = last("web/withheld")
    assert withheld["status"] == "unknown"
    assert withheld["reason"]["code"] == "agent.secret_withheld"
    assert "basic_auth.password" in withheld["reason"]["en"]
    assert "agent_secrets: true" in withheld["reason"]["en"]
    assert "agent_secrets: true" in withheld["reason"]["fr"]
    assert last("web/shared")["status"] == "up"
    plugin = last("web/plugin")
    assert (plugin["status"], plugin["reason"]["code"]) == ("unknown", "agent.kind_missing")
    assert "no_such_kind" in plugin["reason"]["en"]
    invalid = last("web/invalid")
    assert (invalid["status"], invalid["reason"]["code"]) == ("unknown", "agent.check_invalid")
    assert "url" in invalid["reason"]["en"]


def test_a_server_failing_or_limiting_loses_nothing(target, tmp_path):
    with StandIn(ok_checks(target)) as standin, Agent(standin, tmp_path):
        standin.wait(lambda: len(standin.stored) >= 3, "first results")
        standin.script(500, "internal", "Database unavailable.", times=2)
        standin.script(429, "rate_limited", "Too many pushes.", headers={"Retry-After": "1"})
        standin.wait(lambda: len(standin.pushes) >= 6 and standin.pushes[-1].status == 200,
                     "pushes taken again")
        statuses = [p.status for p in standin.pushes]

    assert statuses.count(500) == 2 and statuses.count(429) == 1
    assert contiguous(standin.order) and standin.duplicates == 0


def test_a_batch_too_large_is_cut_in_half(target, tmp_path):
    with StandIn(ok_checks(target, 3)) as standin, Agent(standin, tmp_path) as agent:
        standin.wait(lambda: len(standin.stored) >= 1, "first results")
        standin.stop()  # results gather on disk: the next push is a large one
        seen = max(spooled_seqs(agent.data_dir), default=0)
        target.wait(lambda: max(spooled_seqs(agent.data_dir), default=0) >= seen + 8,
                    "results waiting on disk")
        standin.script(413, "too_large", "A batch is at most 1 MiB.")
        standin.start()
        refused = standin.wait(lambda: next((p for p in standin.pushes if p.status == 413),
                                            None), "the push refused")
        index = standin.pushes.index(refused)
        after = standin.wait(lambda: standin.pushes[index + 1]
                             if len(standin.pushes) > index + 1 else None, "the next push")

    assert len(refused.seqs) >= 8
    assert after.status == 200 and after.seqs == refused.seqs[: len(refused.seqs) // 2]
    assert contiguous(standin.order)


def test_results_of_a_check_moved_elsewhere_are_dropped_not_fatal(target, tmp_path):
    """The server moved a check to another location while the agent held results of it:
    the server refuses them (403 wrong_location); the agent finds them, drops them,
    counts them, and goes on."""
    checks = ok_checks(target, 2)
    with StandIn(checks) as standin, Agent(standin, tmp_path) as agent:
        standin.wait(lambda: len(standin.stored) >= 2, "first results")
        standin.stop()
        seen = max(spooled_seqs(agent.data_dir), default=0)
        target.wait(lambda: max(spooled_seqs(agent.data_dir), default=0) >= seen + 6,
                    "results of both checks on disk")
        standin.checks = checks[:1]
        standin.start()
        standin.wait(lambda: len(standin.seqs_of("web/c0")) >= 8, "the kept check's results")
        standin.wait(lambda: standin.pushes[-1].status == 200
                     and standin.pushes[-1].body["dropped"] > 0, "a push counting them")
        assert agent.process.proc.poll() is None  # still running
        last = standin.pushes[-1].body
        agent.stop()

    assert any(p.status == 403 for p in standin.pushes)
    assert "wrong_location" in agent.output and "dropped" in agent.output
    missing = set(range(1, max(standin.stored) + 1)) - set(standin.stored)
    assert len(missing) == last["dropped"]
    assert standin.duplicates == 0


def test_the_saved_list_of_checks_is_private(target, tmp_path):
    with StandIn(ok_checks(target)) as standin, Agent(standin, tmp_path) as agent:
        standin.wait(lambda: len(standin.stored) >= 1, "first results")
        saved = agent.data_dir / "checks.json"
        assert saved.stat().st_mode & 0o077 == 0
        assert json.loads(saved.read_text())["answer"]["agent"] == "lyon-1"


def test_a_clock_far_from_the_servers_is_told(target, tmp_path):
    with StandIn(ok_checks(target, 1)) as standin:
        standin.clock_ahead = 3600.0
        with Agent(standin, tmp_path, "--location-label", "maison-alice") as agent:
            agent.wait_line("clock is 3600 s behind the server's", "the clock warning")
            standin.wait(lambda: len(standin.stored) >= 1, "a result")
            output = agent.stop()
    assert "(maison-alice)" in output  # the label names the agent in its own log
    # the agent sends its own times: the server corrects them with each batch's sent_at
    push = standin.pushes[-1]
    assert abs(push.body["sent_at"] - push.received_at) < 600


def test_plugins_can_be_left_out(target, tmp_path):
    checks = [http_check("web/home", f"{target.url}/ok/1"),
              {"key": "web/port", "kind": "tcp", "interval": 1.0, "timeout": 5.0,
               "confirm": 1, "retry_interval": 1.0,
               "options": {"host": "127.0.0.1", "port": int(target.url.rsplit(":", 1)[1])}}]
    env = {"VIGIE_AGENT_BLOCK_PLUGINS": "http dns"}
    with StandIn(checks) as standin, Agent(standin, tmp_path, env=env):
        standin.wait(lambda: standin.seqs_of("web/home") and standin.seqs_of("web/port"),
                     "a result of each check")
    home = standin.stored[standin.seqs_of("web/home")[0]]
    assert (home["status"], home["reason"]["code"]) == ("unknown", "agent.kind_missing")
    assert standin.stored[standin.seqs_of("web/port")[0]]["status"] == "up"
