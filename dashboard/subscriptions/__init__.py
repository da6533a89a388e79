"""Members' e-mail subscriptions at ``/abonnement/``: no account, double opt-in, a manage
link and a one-click unsubscribe in every mail.

- :mod:`~dashboard.subscriptions.blueprint` — the blueprint, always registered by
  :func:`dashboard.create_app`; when subscriptions are not offered (``subscriptions.enabled``
  false, or no ``mail.host``) no page links to it and signing up answers a page saying
  so, with a 404, while the manage and one-click unsubscribe links of the mails already
  sent keep working for the subscribers the store has;
- :mod:`~dashboard.subscriptions.views` — sign-up and its answer, confirmation, the manage
  page, the one-click unsubscribe (RFC 8058);
- :mod:`~dashboard.subscriptions.forms` — the member's fields, read once and checked.

The pages call the core's :class:`monitor.subscriptions.service.Subscriptions` and nothing
else; the mails themselves are sent by ``monitor.membermail``.
"""
