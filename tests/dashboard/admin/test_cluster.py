"""The cluster's page in the volunteers' area: the nodes, their state and the leader,
read from the database (PostgreSQL, real membership and lease rows); in French and
English; no page and no menu entry for a Vigie that is not a node."""

from __future__ import annotations

from dashboard import _load_config, create_app
from dashboard.admin import accounts
from monitor.cluster.leadership import Leadership
from monitor.cluster.membership import Membership
from monitor.cluster.settings import settings_of
from monitor.plugins import build_plugin_manager
from tests.dashboard import seed
from tests.dashboard.admin.conftest import PASSWORD, QUICK, AdminClient, login, quick_hasher


def test_a_single_vigie_has_no_cluster_page_nor_menu_entry(admin):
    assert admin.get("/admin/cluster").status_code == 404
    assert "/admin/cluster" not in admin.get("/admin/").get_data(as_text=True)


def test_the_nodes_and_the_leader_in_both_languages(tmp_path, postgres_schema_url):
    path = seed.write_config(tmp_path, postgres_schema_url)
    path.write_text(path.read_text(encoding="utf-8")
                    + "cluster: {enabled: true, node: vigie-1}\n", encoding="utf-8")
    config = _load_config(path)
    store = seed.prepare_store(postgres_schema_url)
    try:
        settings = settings_of(config)
        for name, incarnation in (("vigie-1", "1" * 16), ("vigie-2", "2" * 16)):
            Membership(store.engine, name, incarnation, settings,
                       address=f"10.0.0.{name[-1]}:8080").join()
        assert Leadership(store.engine, "vigie-2", "2" * 16, settings.lease
                          ).try_acquire_or_renew() is not None
        with store.session() as session, session.begin():
            accounts.create_user(session, "camille", PASSWORD, passwords=QUICK)
        pm = build_plugin_manager(load_entry_points=False)
        app = create_app(config, {"TESTING": True, "PLUGIN_MANAGER": pm,
                                  "PASSWORD_HASHER": quick_hasher()}, store=store)
        client = app.test_client()
        assert login(client).status_code == 303
        admin = AdminClient(client)

        assert "/admin/cluster" in admin.get("/admin/").get_data(as_text=True)
        page = admin.get("/admin/cluster?lang=en").get_data(as_text=True)
        assert "vigie-1" in page and "10.0.0.2:8080" in page
        assert "vigie-2 <strong>(leader)</strong>" in page
        assert page.count(">live<") == 2
        assert "Leader: vigie-2, epoch 1" in page
        french = admin.get("/admin/cluster?lang=fr").get_data(as_text=True)
        assert ">en vie<" in french and "Dernier signe de vie" in french
        assert "Leader : vigie-2, époque 1" in french
    finally:
        store.dispose()
