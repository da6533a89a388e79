"""Leadership on the real PostgreSQL: one holder of the lease, a fencing epoch that grows
at each new tenure and never on a renewal, and a fence that a leader which lost the lease
cannot pass, nor slip a write past (threads race for the lease, many rounds)."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from monitor.cluster.clock import Clock
from monitor.cluster.errors import Fenced, LeaseBusy
from monitor.cluster.leadership import Lease, Leadership
from tests.monitor.cluster.conftest import T0, race, run_all

LEASE = 15.0


def lead(engine, clock, node: str, incarnation: str | None = None, **kw) -> Leadership:
    return Leadership(engine, node, incarnation or f"inc-{node}", LEASE, clock=clock, **kw)


@pytest.fixture
def effects(engine):
    """A table of side effects: the epoch each was fenced with, and the lease's epoch its
    last statement read (in the same transaction, after the fence)."""
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE effects (id bigserial PRIMARY KEY, "
                             "epoch bigint NOT NULL, seen bigint NOT NULL)"))
    return engine


def write_effect(conn, epoch: int) -> None:
    conn.execute(sa.text("INSERT INTO effects (epoch, seen) SELECT :epoch, epoch "
                         "FROM cluster_lease WHERE name = 'leader'"), {"epoch": epoch})


def effect_rows(engine) -> list[tuple[int, int]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT epoch, seen FROM effects ORDER BY id"))]


def test_the_waits_default_to_parts_of_the_lease(clock):
    bidder = Leadership(sa.create_engine("postgresql+psycopg://"), "a", "inc-a", 12.0,
                        clock=clock)
    # a bidder waits a third of the lease for the row; a fenced transaction idle for a
    # whole lease has its session ended
    assert (bidder.lock_wait, bidder.hold_limit) == (4.0, 12.0)


def test_the_first_bidder_takes_the_lease_with_epoch_1(engine, clock):
    a, b = lead(engine, clock, "a"), lead(engine, clock, "b")
    assert a.try_acquire_or_renew() == Lease(1, T0 + LEASE, T0)
    assert b.try_acquire_or_renew() is None
    seen = b.last_seen
    assert (seen.holder, seen.incarnation, seen.epoch, seen.expires_at, seen.now,
            seen.held) == ("a", "inc-a", 1, T0 + LEASE, T0, True)
    assert a.current() == seen


def test_a_renewal_keeps_the_epoch_and_moves_the_expiry(engine, clock):
    a, b = lead(engine, clock, "a"), lead(engine, clock, "b")
    a.try_acquire_or_renew()
    for _ in range(5):
        clock.advance(5)
        assert a.try_acquire_or_renew() == Lease(1, clock.param + LEASE, T0)
        assert b.try_acquire_or_renew() is None


def test_an_expired_lease_goes_to_another_with_the_next_epoch(engine, clock):
    a, b = lead(engine, clock, "a"), lead(engine, clock, "b")
    a.try_acquire_or_renew()
    clock.advance(LEASE - 0.001)
    assert b.try_acquire_or_renew() is None  # not yet
    clock.advance(0.001)
    assert b.try_acquire_or_renew() == Lease(2, T0 + 2 * LEASE, T0 + LEASE)
    # the old holder, back from a pause, renews nothing…
    assert a.try_acquire_or_renew() is None
    assert a.last_seen.holder == "b"
    # …and though it "thinks" it leads under epoch 1, its fence fails
    with engine.begin() as conn:
        with pytest.raises(Fenced, match="held by 'b' now"):
            a.fence(conn, 1)


def test_taking_its_own_expired_lease_again_is_a_new_tenure(engine, clock):
    a = lead(engine, clock, "a")
    a.try_acquire_or_renew()
    clock.advance(LEASE + 1)
    assert a.try_acquire_or_renew() == Lease(2, clock.param + LEASE, clock.param)
    with engine.begin() as conn:
        with pytest.raises(Fenced, match="epoch 2, not 1"):
            a.fence(conn, 1)
        a.fence(conn, 2)


def test_a_new_process_under_the_same_name_is_another_holder(engine, clock):
    old = lead(engine, clock, "a", "first")
    new = lead(engine, clock, "a", "second")
    old.try_acquire_or_renew()
    assert new.try_acquire_or_renew() is None
    clock.advance(LEASE)
    assert new.try_acquire_or_renew().epoch == 2
    with engine.begin() as conn:
        with pytest.raises(Fenced):
            old.fence(conn, 1)


def test_stepping_down_frees_the_lease_at_once(engine, clock):
    a, b = lead(engine, clock, "a"), lead(engine, clock, "b")
    a.try_acquire_or_renew()
    clock.advance(1)
    assert a.step_down(2) is False  # not its epoch
    assert a.step_down(1) is True
    assert b.try_acquire_or_renew() == Lease(2, clock.param + LEASE, clock.param)
    assert a.step_down(1) is False
    with engine.begin() as conn:
        with pytest.raises(Fenced):
            a.fence(conn, 1)


def test_the_fence_passes_only_within_the_holder_s_lease(engine, clock):
    a = lead(engine, clock, "a")
    with engine.begin() as conn:
        with pytest.raises(Fenced, match="nobody leads"):
            a.fence(conn, 1)
    a.try_acquire_or_renew()
    clock.advance(LEASE - 0.001)
    with engine.begin() as conn:
        a.fence(conn, 1)
        with pytest.raises(Fenced, match="epoch 1, not 7"):
            a.fence(conn, 7)
    clock.advance(0.001)
    with engine.begin() as conn:  # expired, though nobody took it
        with pytest.raises(Fenced, match="expired 0.0s ago"):
            a.fence(conn, 1)


def test_the_fence_works_in_an_orm_session(engine, clock):
    a = lead(engine, clock, "a")
    a.try_acquire_or_renew()
    with Session(engine) as session, session.begin():
        a.fence(session, 1)
    clock.advance(LEASE)
    with Session(engine) as session, session.begin():
        with pytest.raises(Fenced):
            a.fence(session, 1)


def test_on_the_database_s_clock(engine):
    clock = Clock.database()
    a, b = lead(engine, clock, "a"), lead(engine, clock, "b")
    lease = a.try_acquire_or_renew()
    assert lease.epoch == 1 and lease.expires_at - lease.acquired_at == LEASE
    assert b.try_acquire_or_renew() is None
    with engine.begin() as conn:
        a.fence(conn, 1)
    assert a.try_acquire_or_renew().epoch == 1


def test_no_takeover_commits_while_a_fenced_transaction_is_open(effects, clock):
    engine = effects
    a = lead(engine, clock, "a")
    b = lead(engine, clock, "b", lock_wait=0.05)
    epoch = a.try_acquire_or_renew().epoch
    with engine.connect() as conn:
        with conn.begin():
            a.fence(conn, epoch)
            clock.advance(LEASE + 5)  # the lease expires while the side effect runs
            with pytest.raises(LeaseBusy):
                b.try_acquire_or_renew()
            write_effect(conn, epoch)
    # the side effect was committed under the lease it was fenced with; then b takes it
    assert effect_rows(engine) == [(1, 1)]
    assert b.try_acquire_or_renew().epoch == 2
    with engine.connect() as conn:
        with conn.begin():
            with pytest.raises(Fenced):
                a.fence(conn, epoch)


def test_a_paused_holder_of_the_fence_lock_is_ended_by_the_database(effects, clock):
    engine = effects
    a = lead(engine, clock, "a", hold_limit=0.2)
    b = lead(engine, clock, "b", lock_wait=120)
    epoch = a.try_acquire_or_renew().epoch
    conn = engine.connect()
    transaction = conn.begin()
    a.fence(conn, epoch)
    write_effect(conn, epoch)
    # a is paused now (SIGSTOP): its transaction stays open and idle, holding the lock;
    # b waits for the row until the database ends a's session
    clock.advance(LEASE)
    assert b.try_acquire_or_renew().epoch == epoch + 1
    with pytest.raises(sa.exc.DBAPIError):  # a wakes: nothing it wrote is kept
        transaction.commit()
    conn.close()
    assert effect_rows(engine) == []


def test_racing_bidders_never_both_hold(engine, clock):
    bidders = [lead(engine, clock, name) for name in ("a", "b", "c")]
    epoch, holder = 0, None
    for round_ in range(60):
        expired = round_ % 3 != 2
        if expired:
            clock.advance(LEASE)
        elif round_ % 2:
            clock.advance(1)  # the holder renews while the others bid
        results = race(*(b.try_acquire_or_renew for b in bidders))
        assert all(r is None or isinstance(r, Lease) for r in results), results
        winners = [i for i, r in enumerate(results) if r is not None]
        assert len(winners) == 1, (round_, results)
        if expired:
            epoch += 1
        else:
            assert winners[0] == holder
        holder = winners[0]
        assert results[holder].epoch == epoch


def test_fenced_side_effects_never_cross_a_change_of_leader(effects, clock):
    engine = effects
    bidders = [lead(engine, clock, name, lock_wait=5) for name in ("a", "b", "c")]
    refused = [0]

    def node(bidder: Leadership, seed: int) -> None:
        chance = random.Random(seed)
        for _ in range(150):
            try:
                lease = bidder.try_acquire_or_renew()
            except LeaseBusy:
                continue
            if lease is not None:
                with engine.connect() as conn:
                    with conn.begin():
                        try:
                            bidder.fence(conn, lease.epoch)
                        except Fenced:
                            refused[0] += 1
                            continue
                        for _ in range(10):  # a side effect of a few statements
                            write_effect(conn, lease.epoch)
            if chance.random() < 0.15:
                clock.advance(LEASE)  # whoever leads loses the lease now

    run_all(*(lambda b=b, i=i: node(b, i) for i, b in enumerate(bidders)))
    rows = effect_rows(engine)
    # every side effect was written under the lease it was fenced with, and in the order
    # of the epochs: none of an old leader after the new one's
    assert rows and all(epoch == seen for epoch, seen in rows)
    epochs = [epoch for epoch, _seen in rows]
    assert epochs == sorted(epochs)
    assert len(set(epochs)) > 10, epochs


def test_bidders_racing_for_a_lease_never_taken_each_get_an_answer(engine, clock):
    # the first bidders all insert the row: the losers' statement cannot see the winner's
    # row in its snapshot, and must still say who holds it
    for round_ in range(30):
        name = f"lease-{round_}"
        bidders = [Leadership(engine, node, f"inc-{node}", LEASE, clock=clock, name=name)
                   for node in ("a", "b", "c", "d")]
        results = race(*(b.try_acquire_or_renew for b in bidders))
        assert all(r is None or isinstance(r, Lease) for r in results), results
        winners = [i for i, r in enumerate(results) if r is not None]
        assert len(winners) == 1 and results[winners[0]].epoch == 1, (round_, results)
        holder = bidders[winners[0]].node
        assert {b.last_seen.holder for b in bidders} == {holder}
