"""Remote agents, the server's side: ``vigie agent`` processes at other locations fetch
their checks and push result batches to ``/api/agent/v1`` with a token of their own.

- :mod:`~monitor.agents.settings` — the ``agents:`` section;
- :mod:`~monitor.agents.models` — the ``agent_tokens`` and ``location_results`` tables;
- :mod:`~monitor.agents.tokens` — making tokens (``vga_…``) and finding one by its hash;
- :mod:`~monitor.agents.service` — the volunteers' operations (add, revoke; roles,
  audit) and what the lists show;
- :mod:`~monitor.agents.assignments` — what the server needs to know of the locations
  (which are remote, which checks run where), given to it from the configuration;
- :mod:`~monitor.agents.catalog` — the checks of a location as an agent fetches them;
- :mod:`~monitor.agents.batch` — reading and validating a pushed batch (all or
  nothing);
- :mod:`~monitor.agents.ingest` — storing a batch once (idempotent by ``(token, seq)``);
- :mod:`~monitor.agents.app` — the WSGI application at ``/api/agent/v1``;
- :mod:`~monitor.agents.health` — the agents' last news and the refusals, for the
  metrics (:mod:`~monitor.agents.metrics`);
- :mod:`~monitor.agents.system` — what ``vigie run`` wires.

See ``docs/agents-server.md``.
"""
