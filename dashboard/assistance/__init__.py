"""Members' assistance at ``/assistance/``: from "something is wrong" to the incident, the
guide, the forum thread, or one request to the volunteers with screenshots.

- :mod:`~dashboard.assistance.blueprint` — the blueprint, registered by
  :func:`dashboard.create_app` when ``assistance.enabled``;
- :mod:`~dashboard.assistance.views` — the three steps (which service, what happens, the
  request) and the member's answers on the way ("thanks, I'll wait", "this guide solved
  it", "I continue");
- :mod:`~dashboard.assistance.send` — ``POST /assistance/envoyer`` and the receipt page;
- :mod:`~dashboard.assistance.situation` — what the status page knows about the chosen
  service or its group (step 1);
- :mod:`~dashboard.assistance.forms` — the member's fields, read and checked;
- :mod:`~dashboard.assistance.formstate` — the form's signed state between the steps;
- :mod:`~dashboard.assistance.csrf` — CSRF protection of its anonymous forms
  (:mod:`dashboard.visitor_csrf`);
- :mod:`~dashboard.assistance.pow` — the optional proof of work;
- :mod:`~dashboard.assistance.uploads`, :mod:`~dashboard.assistance.screenshots` — the
  screenshots, streamed to disk, decoded and re-encoded.
"""
