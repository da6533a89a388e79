"""Mail to subscribed members: the confirmation of a subscription and the incident and
maintenance news of the services they follow (see :mod:`monitor.membermail.plugin`)."""
