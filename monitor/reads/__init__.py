"""The core's read API: what the dashboard (and any other reader) may know of the store.

The tables are the core's to change; readers outside ``monitor/`` call these functions
and get plain values and frozen records back, never ORM rows, so that a column renamed
or a table split changes this package and nothing else (docs/architecture.md, "The read
API"):

- :mod:`monitor.reads.status` — services' and checks' confirmed states, the daily tallies
  of the uptime bars, response times, the active services;
- :mod:`monitor.reads.page` — reads shaped for a page built off the request path: the
  version question, the next notice change, recurring windows' rules, a session on an
  open connection;
- :mod:`monitor.incidents.queries` — incidents, their timelines and links, maintenance
  windows and occurrences, notices, the outbox;
- :mod:`monitor.accounts.store` — the volunteers' accounts, API tokens and sessions;
- :mod:`monitor.assistance.records` — the members' requests for help as volunteers see
  them (no personal data), and their retention purge.

Every function takes an open connection or session (the caller chooses where a
transaction starts and ends) and changes nothing, except the account store's writes.
"""

from monitor.reads import page, status

__all__ = ["page", "status"]
