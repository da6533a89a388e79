"""Incidents, maintenance windows, notices and the durable outbox.

- :mod:`monitor.incidents.models` — the tables (on the store's ``Base``);
- :mod:`monitor.incidents.engine` — opens, updates and resolves incidents from service
  transitions;
- :mod:`monitor.incidents.maintenance` — windows, recurrence (DST-correct) and the ticker;
- :mod:`monitor.incidents.notices` — information messages;
- :mod:`monitor.incidents.outbox` — writing side effects and the delivery worker;
- :mod:`monitor.incidents.service` — what volunteers do (dashboard, API, CLI call it);
- :mod:`monitor.incidents.maintenance_ops` — what they do with maintenance windows;
- :mod:`monitor.incidents.inputs` — their input checked and made safe;
- :mod:`monitor.incidents.queries` — what the dashboard reads.

This package imports nothing at load time, so the store can register the tables early.
"""
