"""The status page on PostgreSQL (production's database): same pages, same snapshot."""

from __future__ import annotations

import pytest

from dashboard import _load_config, create_app
from monitor.state import ServiceStatus
from tests.dashboard import seed

pytestmark = pytest.mark.postgres


def test_pages_and_snapshot_on_postgresql(postgres_schema_url, tmp_path):
    config = _load_config(seed.write_config(tmp_path, postgres_schema_url))
    store = seed.prepare_store(postgres_schema_url)
    try:
        ids = seed.seed_all(store, config, result_hours=6)
        now = [seed.NOW]
        app = create_app(config, {"TESTING": True, "CLOCK": lambda: now[0]}, store=store)
        client = app.test_client()
        page = client.get("/").get_data(as_text=True)
        assert 'data-banner="disturbed"' in page and "Réception du courrier perturbée" in page
        assert client.get(f"/incidents/{ids[0]}").status_code == 200
        assert client.get("/services/mail?range=90d").status_code == 200
        doc = client.get("/api/v1/summary.json").get_json()
        assert {c["id"]: c["status"] for c in doc["components"]}["mail"] == "partial_outage"
        store.record_service_change("mail", seed.NOW + 1, ServiceStatus.PARTIAL_OUTAGE,
                                    ServiceStatus.MAJOR_OUTAGE)
        now[0] += 10
        client.get("/api/v1/summary.json")  # wakes the refresh, answered at once
        assert app.extensions["vigie"].cache.wait_idle(60)
        doc = client.get("/api/v1/summary.json").get_json()
        assert doc["status"]["indicator"] == "major"
        assert app.extensions["vigie"].cache.rebuilds == 2
    finally:
        store.dispose()
