"""The ``dashboard`` section of ``vigie.yaml``: what the status page needs besides the site.

Everything has a default, so the section may be left out::

    dashboard:
      secret_key_file: /etc/vigie/dashboard-secret   # else generated in data_dir/secret_key
      refresh_interval: 5m      # how often an open page refreshes itself
      help_links:               # "where to read more", shown under the banner
        - {name: {fr: Guides, en: Guides}, url: https://guides.example.coop/}
        - {name: {fr: Forum d'entraide, en: Help forum}, url: https://forum.example.coop/}
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from monitor.config import LocalizedText
from monitor.schema import Duration, StrictModel, http_url_problem


class HelpLink(StrictModel):
    """A link members are pointed to when something seems wrong (guides, forum, helpdesk)."""

    name: LocalizedText
    url: str = Field(max_length=2000)

    @field_validator("url")
    @classmethod
    def _web_address(cls, value: str) -> str:
        if value.startswith("/") or http_url_problem(value) is None:
            return value
        raise ValueError("expected a web address starting with https:// (or a path)")


class DashboardSettings(StrictModel):
    """Settings of the members' status page and of the volunteers' area."""

    #: signs session cookies (volunteers' login, CSRF); generated and kept in
    #: ``data_dir/secret_key`` when not given
    secret_key: SecretStr | None = None
    #: an open page fetches the summary (or reloads without JavaScript) this often
    refresh_interval: Duration = 300.0
    #: the database is asked whether anything changed at most this often
    check_interval: Duration = 5.0
    #: a snapshot is rebuilt at least this often even when nothing changed (latency charts)
    max_age: Duration = 300.0
    #: keep long-lived objects out of Python's garbage collector after each snapshot
    #: rebuild (one full collection per rebuild instead of pauses under load)
    freeze_gc: bool = True
    #: guides, forum, helpdesk: shown under the banner
    help_links: list[HelpLink] = Field(default_factory=list, max_length=10)
    #: the volunteers' session cookie is sent over HTTPS only (``Secure``); by default
    #: (unset) it is, unless the listener is a loopback address (then only for requests
    #: that came over HTTPS); see docs/admin.md
    secure_cookies: bool | None = None


def settings_of(sections: dict | None) -> DashboardSettings:
    """The dashboard settings from a configuration's plugin sections (defaults when absent)."""
    found = (sections or {}).get("dashboard")
    return found if isinstance(found, DashboardSettings) else DashboardSettings()
