"""The ``cluster:`` section: several ``vigie run`` on one PostgreSQL (see docs/cluster.md).

Cluster mode needs the PostgreSQL store: with SQLite (one machine's file) the
configuration is refused, at ``cluster.enabled``, by :func:`store_issue`.
"""

from __future__ import annotations

import re
import socket
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from monitor.config_issues import ConfigIssue
from monitor.schema import Duration, StrictModel

#: what a node name may hold: letters, digits, ``-``, ``_`` and ``.``, at most 63
NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_NOT_NAME_CHAR = re.compile(r"[^A-Za-z0-9_.-]+")


def default_node_name(host: str | None = None) -> str:
    """The machine's host name made a valid node name (``vigie`` if nothing is left)."""
    name = _NOT_NAME_CHAR.sub("-", socket.gethostname() if host is None else host)
    name = name.lstrip("-_.")[:63]
    return name if NODE_NAME.match(name) else "vigie"


class ClusterSettings(StrictModel):
    """Several Vigie nodes on one PostgreSQL: the checks shared out among the live nodes,
    one leader for what must happen once (alerts, tickets, forum topics). Needs the
    PostgreSQL store."""

    #: run as one node of a cluster (every node of a cluster sets it, on one database)
    enabled: bool = False
    #: this node's name, unique in the cluster (letters, digits, ``-``, ``_``, ``.``; at
    #: most 63); the machine's host name by default
    node: str = Field(default_factory=default_node_name)
    #: how often each node writes its heartbeat (and renews or bids for the lease)
    heartbeat: Duration = Field(default=5.0, ge=0.1, le=300)
    #: a node is dead after this many missed heartbeats: its checks move to the others
    dead_after: int = Field(default=3, ge=2, le=100)
    #: the leader's lease: a leader that cannot renew it (paused, cut from the database)
    #: loses it this long after its last renewal; longer than two heartbeats
    lease: Duration = Field(default=15.0, le=3600)

    @field_validator("node")
    @classmethod
    def _node_name(cls, value: str) -> str:
        if not NODE_NAME.match(value):
            raise ValueError(f"invalid node name {value[:70]!r}: use letters, digits, '-', "
                             "'_' and '.', starting with a letter or digit, at most 63")
        return value

    @field_validator("lease")
    @classmethod
    def _longer_than_two_heartbeats(cls, value: float, info: ValidationInfo) -> float:
        heartbeat = info.data.get("heartbeat")
        if heartbeat is not None and value <= 2 * heartbeat:
            raise ValueError(
                f"the lease ({value:g}s) must be longer than two heartbeats "
                f"(2 × {heartbeat:g}s): a leader renews it at each heartbeat, and one "
                "late heartbeat must not cost the lease")
        return value

    @property
    def detection(self) -> float:
        """Seconds after its last heartbeat when a silent node is dead for the others."""
        return self.dead_after * self.heartbeat


def settings_of(config: Any) -> ClusterSettings:
    """The ``cluster:`` section of ``config`` (its defaults when absent)."""
    found = config.sections.get("cluster")
    return found if isinstance(found, ClusterSettings) else ClusterSettings()


#: the refusal when cluster mode is asked for on SQLite (one line, at ``cluster.enabled``)
NEEDS_POSTGRESQL = ("cluster mode needs the PostgreSQL store (the nodes share one "
                    "database), and the store is SQLite: set store.url to a postgresql:// "
                    "URL, or cluster.enabled: false")


def store_issue(cluster: Any, raw_store: Any, line_of: Any) -> ConfigIssue | None:
    """The problem of a file asking for cluster mode on SQLite, at ``cluster.enabled``.

    :param cluster: the validated ``cluster`` section (anything else: no problem here).
    :param raw_store: the file's ``store`` section as read; when it is itself invalid its
        own errors are reported, not this one.
    :param line_of: the source's ``line_of(loc)``.
    """
    if not isinstance(cluster, ClusterSettings) or not cluster.enabled:
        return None
    from pydantic import ValidationError

    from monitor.config_settings import StoreSettings
    from monitor.store.engine import normalize_url

    try:
        store = StoreSettings.model_validate(raw_store if raw_store is not None else {})
    except ValidationError:
        return None
    url = store.url
    if url and normalize_url(str(url)).get_backend_name() == "postgresql":
        return None
    loc = ("cluster", "enabled")
    return ConfigIssue(line_of(loc), loc, NEEDS_POSTGRESQL)
