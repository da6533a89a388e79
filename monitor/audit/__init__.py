"""The audit log: every change a person or a token makes, who, when, from where, what,
and the target before and after.

- :mod:`monitor.audit.targets` — what each operation changes, and its snapshot (JSON,
  never a secret);
- :mod:`monitor.audit.record` — written by :func:`monitor.guard.operation`, in the same
  transaction as the change;
- :mod:`monitor.audit.read` — filters, pages, CSV and JSON Lines exports (the admin page
  and ``vigie audit export``).

The table (``monitor.store.audit``) is append-only: no code path updates or deletes an
entry, and database triggers refuse it.
"""
