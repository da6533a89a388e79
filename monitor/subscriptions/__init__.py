"""Members' e-mail subscriptions: who follows which services, confirmed by a single-use
link, with their manage link; the mails themselves are :mod:`monitor.membermail`'s."""
