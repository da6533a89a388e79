"""Which database errors the dashboard calls "database unavailable" (503).

Only an unusable database is a 503 with "cannot read the database" in the log; a mistake
in what the code asked of the database (a value of the wrong type, as the admin API once
let through with ``"public": "false"``) is a 500 with its traceback, so a volunteer is not
sent to look at a database server that is fine.
"""

from __future__ import annotations

import logging

from sqlalchemy import exc, update

from dashboard import create_app, database_unavailable
from dashboard.admin.context import transaction
from monitor.incidents.models import IncidentUpdate
from monitor.store import Store


def test_a_wrong_value_for_the_database_is_a_500_not_a_503(admin_app, caplog):
    @admin_app.route("/wrong-type")
    def wrong_type():
        with transaction() as session:  # what "public": "false" used to reach
            session.execute(update(IncidentUpdate).where(IncidentUpdate.id == -1)
                            .values(public="false"))
        return "written"

    @admin_app.route("/api/v1/wrong-type")
    def wrong_type_json():
        return wrong_type()

    with caplog.at_level(logging.ERROR, logger="dashboard"):
        response = admin_app.test_client().get("/wrong-type")
        assert response.status_code == 500
        response = admin_app.test_client().get("/api/v1/wrong-type")
        assert response.status_code == 500 and response.get_json()["error"] == "error"
    assert "cannot read the database" not in caplog.text
    assert "Not a boolean value" in caplog.text  # the traceback is in the log


def test_an_unreadable_database_is_still_a_503(admin_config, tmp_path, caplog):
    path = tmp_path / "vigie.sqlite"
    path.write_bytes(b"this is not a database file " * 100)
    store = Store(f"sqlite:///{path}")
    app = create_app(admin_config, {"TESTING": True}, store=store)
    try:
        with caplog.at_level(logging.ERROR, logger="dashboard"):
            response = app.test_client().get("/")
        assert response.status_code == 503
        assert "cannot read the database" in caplog.text
    finally:
        store.dispose()


def test_database_unavailable_sorts_the_errors():
    orig = Exception("driver's words")
    for error in (exc.OperationalError("SELECT 1", {}, orig),
                  exc.InterfaceError("SELECT 1", {}, orig),
                  exc.DatabaseError("SELECT 1", {}, orig),
                  exc.TimeoutError("QueuePool limit reached"),
                  exc.DBAPIError("SELECT 1", {}, orig, connection_invalidated=True)):
        assert database_unavailable(error), error
    for error in (exc.StatementError("Not a boolean value", "UPDATE", {}, TypeError()),
                  exc.IntegrityError("INSERT", {}, orig),
                  exc.ProgrammingError("SELECT", {}, orig),
                  exc.DataError("INSERT", {}, orig),
                  exc.InvalidRequestError("bad use of the session"),
                  exc.ArgumentError("bad argument")):
        assert not database_unavailable(error), error
