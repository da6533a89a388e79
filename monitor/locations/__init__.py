"""Checks run from several places: each location's own damping, the consensus
members are told, the remote locations' reachability (docs/locations.md).

- :mod:`~monitor.locations.consensus` — the rule, pure: votes in, a verdict out;
- :mod:`~monitor.locations.book` — each (check, location)'s damped state, the remote
  locations' last results and silences, the verdicts;
- :mod:`~monitor.locations.system` — inside ``vigie run``: results in (the server's own
  runs, the agents' results), verdicts to the runtime, alerts for silent locations;
- :mod:`~monitor.locations.wording` — the verdicts' reasons and the ``vigie.agents``
  alerts;
- :mod:`~monitor.locations.records` — the volunteers' grid, frozen records the dashboard
  reads (``StartupContext.location_grid``);
- :mod:`~monitor.locations.metrics` — the ``location`` series of ``/metrics``.

The locations themselves and what each check says of them are configured in
:mod:`monitor.config_locations`.
"""
