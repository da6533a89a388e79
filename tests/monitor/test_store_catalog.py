"""The catalog sync at scale (several insert chunks) and the migration fast path that leaves
Alembic unloaded, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import func, select

from monitor.config_loader import load_config
from monitor.plugins import ProbeKind, ProbeRegistry
from monitor.probe import Probe, ProbeResult
from monitor.store import Store
from monitor.store.catalog import CHUNK
from monitor.store.migrate import head_revision, shipped_head
from monitor.store.models import CheckRow, ServiceRow


class NoopProbe(Probe):
    """A probe kind for building configurations; never run here."""

    kind = "noop"

    async def check(self, config, ctx):
        return ProbeResult.up()


def load(tmp_path, services: int, checks: int, extra: str = ""):
    """A configuration of ``services`` services of ``checks`` noop checks each."""
    lines = ["services:"]
    for s in range(services):
        lines.append(f"  - id: s{s}\n    name: Service {s}\n    checks:")
        lines += [f"      - {{id: c{c}, kind: noop{extra}}}" for c in range(checks)]
    path = tmp_path / "vigie.yaml"
    path.write_text("\n".join(lines) + "\n")
    registry = ProbeRegistry({"noop": ProbeKind("noop", NoopProbe, NoopProbe(), "test")})
    return load_config(path, registry)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vigie.sqlite'}"
    return request.getfixturevalue("postgres_schema_url")


def test_sync_of_many_checks_in_chunks(store_url, tmp_path):
    store = Store(store_url)
    store.upgrade()
    try:
        config = load(tmp_path, 25, 100)  # 2,500 checks: three insert chunks
        assert len(config.checks) > 2 * CHUNK
        first = store.sync_catalog(config)
        assert (first.added, first.updated, first.deactivated) == (2525, 0, 0)
        with store.engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(CheckRow)) == 2500
            ids = dict(conn.execute(select(CheckRow.key, CheckRow.id)).all())
        assert store._check_ids == ids
        # the keys held are the configuration's own strings, not copies read back
        keys = {c.key: c.key for c in config.checks}
        assert all(key is keys[key] for key in store._check_ids)

        again = store.sync_catalog(load(tmp_path, 25, 100))
        assert (again.added, again.updated, again.deactivated) == (0, 0, 0)

        # fewer services, a changed interval everywhere: updates and deactivations
        changed = store.sync_catalog(load(tmp_path, 20, 100, ", interval: 1m"))
        assert (changed.added, changed.updated, changed.deactivated) == (0, 2000, 505)
        with store.engine.connect() as conn:
            active = conn.scalar(select(func.count()).select_from(CheckRow)
                                 .where(CheckRow.active.is_(True)))
            services = conn.scalar(select(func.count()).select_from(ServiceRow)
                                   .where(ServiceRow.active.is_(True)))
            minute = conn.scalar(select(CheckRow.run_interval).where(CheckRow.key == "s0/c0"))
        assert (active, services, minute) == (2000, 20, 60.0)
    finally:
        store.dispose()


def test_shipped_head_is_alembics_head():
    assert shipped_head() == head_revision()


def test_an_up_to_date_database_is_opened_without_loading_alembic(store_url):
    store = Store(store_url)
    store.upgrade()  # creates the schema (Alembic loaded in this process: that is fine)
    store.dispose()
    code = ("import sys; from monitor.store import Store; s = Store(sys.argv[1]); "
            "s.upgrade(); s.check_schema(); print(s.revision()); "
            "print('alembic' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, store_url], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [head_revision(), "False"]


def test_an_empty_database_is_migrated_with_alembic(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.sqlite'}"
    code = ("import sys; from monitor.store import Store; s = Store(sys.argv[1]); "
            "s.upgrade(); print(s.revision()); print('alembic' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, check=False,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [head_revision(), "True"]


def test_nodes_syncing_one_postgresql_catalog_at_once_all_start(postgres_schema_url, tmp_path):
    """The nodes of a cluster start together on an empty database: each syncs the
    catalog; one inserts the rows, the others find them (no duplicate key)."""
    import threading

    Store(postgres_schema_url).upgrade()
    config = load(tmp_path, 30, 20)
    stores = [Store(postgres_schema_url) for _ in range(3)]
    barrier = threading.Barrier(len(stores))
    outcomes: list[object] = [None] * len(stores)

    def sync(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = stores[i].sync_catalog(config)
        except Exception as exc:  # noqa: BLE001 - judged below
            outcomes[i] = exc

    threads = [threading.Thread(target=sync, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
        assert sorted(o.added for o in outcomes) == [0, 0, 630]
        assert all(len(s._check_ids) == 600 for s in stores)
    finally:
        for store in stores:
            store.dispose()
