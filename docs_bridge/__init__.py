"""Guides and forum: the ``guides`` and ``forum`` plugins (see docs/bridges.md).

- :mod:`docs_bridge.guides_plugin` — links the best guides to each incident, from
  :mod:`docs_bridge.sources` (BookStack, MkDocs, Markdown) through
  :mod:`docs_bridge.library` (cache), :mod:`docs_bridge.subjects` (which services each
  guide is about) and :mod:`docs_bridge.matcher` (the ranking rule).
- :mod:`docs_bridge.forum_plugin` — a Discourse topic per serious incident
  (:mod:`docs_bridge.discourse`, :mod:`docs_bridge.forum_text`).

Every HTTP call goes through :mod:`monitor.httpcall` (how a call's outcome maps to the
outbox's RetryLater / PermanentFailure / retry), shared with :mod:`tickets_bridge`.
"""
