"""Helpdesk tickets: the ``tickets`` plugin, one ticket per incident (see docs/bridges.md).

:mod:`tickets_bridge.plugin` drives one :class:`~tickets_bridge.desk.DeskAdapter` —
:mod:`~tickets_bridge.zammad`, :mod:`~tickets_bridge.osticket`, :mod:`~tickets_bridge.mail`
or :mod:`~tickets_bridge.webhook` — with the idempotency :mod:`~tickets_bridge.journal`;
:mod:`~tickets_bridge.evidence` writes what the ticket says.
"""
