"""Signed webhooks (Standard Webhooks 1.0): partner organisations and members' own tools
receive incident and maintenance events as signed JSON.

- :mod:`~monitor.webhooks.models` — the ``webhook_endpoints`` table;
- :mod:`~monitor.webhooks.settings` — the ``webhooks:`` section;
- :mod:`~monitor.webhooks.signing` — secrets (``whsec_…``) and signatures;
- :mod:`~monitor.webhooks.payload` — the JSON body of each event (versioned, public
  fields only);
- :mod:`~monitor.webhooks.plugin` — one plugin object per enabled endpoint, registered as
  ``webhook-<id>``: the outbox gives each endpoint its own rows, lane, retries and dead
  letter; it signs, posts and counts failures (disabling the endpoint after
  ``webhooks.disable_after`` of them in a row);
- :mod:`~monitor.webhooks.registry` — keeps those plugin objects in line with the table;
- :mod:`~monitor.webhooks.service` — the volunteers' operations (roles, audit);
- :mod:`~monitor.webhooks.system` — what ``vigie run`` runs.

See ``docs/webhooks.md``.
"""
