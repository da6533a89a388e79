"""Vigie's store: results, status changes and daily rollups in SQLite or PostgreSQL.

- :class:`Store` — the database behind a small synchronous API (catalog sync, batched
  writes, latest statuses, rollups, pruning, ORM sessions for readers);
- :class:`ResultWriter` — the thread that writes results in batches and buffers them
  while the database is unreachable;
- :class:`ResultRecord`, :class:`CheckChange`, :class:`ServiceChange` — what is written;
- :func:`upgrade` — the Alembic migrations shipped in ``monitor/store/migrations``.

The tables are in :mod:`monitor.store.models`.
"""

from monitor.store.engine import UnsupportedDatabase
from monitor.store.migrate import SchemaOutOfDate, upgrade
from monitor.store.records import CheckChange, ResultRecord, ServiceChange
from monitor.store.store import CatalogSync, Store, WriteCounts
from monitor.store.writer import ResultWriter

__all__ = [
    "CatalogSync",
    "CheckChange",
    "ResultRecord",
    "ResultWriter",
    "SchemaOutOfDate",
    "ServiceChange",
    "Store",
    "UnsupportedDatabase",
    "WriteCounts",
    "upgrade",
]

# The incident tables live on the same Base; importing them here puts them in
# Base.metadata wherever the store is used (migrations, model/migration comparison).
import monitor.agents.models  # registers the agent tokens and location results tables
import monitor.assistance.models  # registers the members' requests table
import monitor.cluster.models  # registers the cluster's nodes and lease tables
import monitor.incidents.models  # registers the incident tables
import monitor.membermail.models  # registers the members' mail ledger
import monitor.store.accounts  # registers the users and api_tokens tables
import monitor.store.audit  # registers the audit_log table
import monitor.subscriptions.models  # registers the subscribers table
import monitor.webhooks.models  # noqa: F401 (registers the webhook_endpoints table; the last of these imports binds "monitor" unused)
