"""The dashboard reads the store through the core's read API only (``monitor.reads``,
``monitor.incidents.queries``, ``monitor.accounts.store``): it imports no module that
defines tables, builds no SQL and runs no statement, so the schema stays the core's."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "dashboard"
#: what the dashboard may take from SQLAlchemy: the handles it passes to the read API and
#: the errors it reports (no query construct, no inspection)
SQLALCHEMY_ALLOWED = {"sqlalchemy": {"Connection", "Engine", "exc"}, "sqlalchemy.orm": {"Session"}}
SQLALCHEMY_MODULES_ALLOWED = {"sqlalchemy.exc"}
#: methods that run a statement: only the read API calls them
STATEMENT_METHODS = {"execute", "scalars", "scalar", "exec_driver_sql"}


def table_modules() -> set[str]:
    """The core's modules that define tables (a class with ``__tablename__``)."""
    found = set()
    for path in (ROOT / "monitor").rglob("*.py"):
        if "__tablename__" in path.read_text(encoding="utf-8"):
            found.add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return found


def schema_uses(source: str, tables: set[str], filename: str = "<source>") -> list[str]:
    """``line: what`` for every import of a table module or of a SQLAlchemy query
    construct, and every statement run, in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in tables or (alias.name.split(".")[0] == "sqlalchemy"
                                            and alias.name not in SQLALCHEMY_MODULES_ALLOWED):
                    found.append(f"{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            module = node.module
            if module in tables:
                found.append(f"{node.lineno}: {module}")
            elif module.split(".")[0] == "sqlalchemy" and module not in SQLALCHEMY_MODULES_ALLOWED:
                allowed = SQLALCHEMY_ALLOWED.get(module, set())
                found += [f"{node.lineno}: {module}.{a.name}" for a in node.names
                          if a.name not in allowed]
            else:
                # ``from monitor.store import models``
                found += [f"{node.lineno}: {module}.{a.name}" for a in node.names
                          if f"{module}.{a.name}" in tables]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in STATEMENT_METHODS):
            found.append(f"{node.lineno}: .{node.func.attr}()")
    return found


def test_the_table_modules_are_found():
    assert {"monitor.store.models", "monitor.store.accounts", "monitor.store.audit",
            "monitor.incidents.models"} <= table_modules()


def test_the_dashboard_reads_through_the_read_api_only():
    tables = table_modules()
    problems = []
    for path in sorted(DASHBOARD.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        problems += [f"{path.relative_to(ROOT)}:{hit}"
                     for hit in schema_uses(source, tables, str(path))]
    assert problems == []


TABLES = {"monitor.store.models", "monitor.incidents.models"}


@pytest.mark.parametrize("source, expected", [
    ("from monitor.store.models import CheckRow", ["1: monitor.store.models"]),
    ("import monitor.incidents.models", ["1: import monitor.incidents.models"]),
    ("from monitor.store import models", ["1: monitor.store.models"]),
    ("from sqlalchemy import Connection, select", ["1: sqlalchemy.select"]),
    ("from sqlalchemy.orm import Session, selectinload", ["1: sqlalchemy.orm.selectinload"]),
    ("import sqlalchemy as sa", ["1: import sqlalchemy"]),
    ("from sqlalchemy.sql import text", ["1: sqlalchemy.sql.text"]),
    ("def f(conn):\n    return conn.execute(q)", ["2: .execute()"]),
    ("x = db.scalars(q)", ["1: .scalars()"]),
    ("from sqlalchemy.exc import SQLAlchemyError\nimport sqlalchemy.exc", []),
    ("from monitor.reads import status\nfrom monitor.incidents import queries", []),
    ("from monitor.accounts import store\nfrom monitor.store import Store", []),
    ("from flask import session\nsession.get('k')", []),
])
def test_the_check_itself(source, expected):
    assert schema_uses(source, TABLES) == expected
