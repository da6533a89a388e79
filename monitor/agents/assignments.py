"""What the agents' server needs to know of the locations: which are remote (an agent
token belongs to one), which checks run at each, and which checks share their secrets
with agents.

The ``locations:`` section and the checks' ``locations``, ``quorum`` and
``agent_secrets`` keys are read elsewhere (the configuration's locations); this module
only says what the server asks of them (:class:`Assignments`) and gives two plain
answers: :class:`StaticAssignments` (built from values, for tests and for adapting the
configuration) and :data:`NO_LOCATIONS` (no remote location: no agent is accepted).
:func:`assignments_of` is the one place that turns a loaded configuration into
:class:`Assignments`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Protocol

from monitor.config import Check, Config


class Assignments(Protocol):
    """The locations as the agents' server sees them. Called from the web threads: an
    implementation must be safe to call from several threads (read-only data is)."""

    def remote_locations(self) -> Collection[str]:
        """The names of the configured remote locations (where agents run)."""

    def checks_for(self, location: str) -> Sequence[Check]:
        """The enabled checks assigned to ``location``, in the configuration's order.
        Returning the same sequence object while the configuration is unchanged lets the
        server reuse what it built from it."""

    def shares_secrets(self, check_key: str) -> bool:
        """Whether the check sends its secret options to agents (``agent_secrets:
        true``)."""


class StaticAssignments:
    """:class:`Assignments` from plain values.

    :param remote: the remote locations' names.
    :param checks: location name → the checks that run there.
    :param share_secrets: keys of the checks whose secrets go to agents.
    """

    def __init__(self, remote: Iterable[str], checks: Mapping[str, Sequence[Check]],
                 share_secrets: Iterable[str] = ()) -> None:
        self.remote = frozenset(remote)
        self._checks = {name: tuple(found) for name, found in checks.items()}
        self._secrets = frozenset(share_secrets)

    def remote_locations(self) -> Collection[str]:
        """The locations named remote."""
        return self.remote

    def checks_for(self, location: str) -> Sequence[Check]:
        """The checks given for ``location`` (none for an unknown one)."""
        return self._checks.get(location, ())

    def shares_secrets(self, check_key: str) -> bool:
        """Whether ``check_key`` was named among those sharing their secrets."""
        return check_key in self._secrets


def serves_agents(enabled: bool | None, assignments: Assignments) -> bool:
    """Whether the agents' API is served: as ``agents.enabled`` says, or, when it says
    nothing, as soon as one remote location is configured."""
    return bool(assignments.remote_locations()) if enabled is None else enabled


#: no remote location: every token is refused a location, every result is out of place
NO_LOCATIONS = StaticAssignments((), {})


#: the last configuration read by :func:`assignments_of` and its answer (one slot: a
#: process has one configuration; replacing the tuple is atomic for the web threads)
_last: tuple[Config, Assignments] | None = None


def assignments_of(config: Config) -> Assignments:
    """The :class:`Assignments` of a loaded configuration: the remote locations of
    ``locations.remote``, the enabled checks whose ``locations`` name each (in the file's
    order), and those with ``agent_secrets: true``.

    The same object is returned while ``config`` is the same, so the agents' catalogs
    built from its sequences stay cached (the admin pages ask at each request).
    """
    global _last
    cached = _last
    if cached is not None and cached[0] is config:
        return cached[1]
    remote = config.file.locations.remote_names()
    checks: dict[str, list[Check]] = {name: [] for name in remote}
    secrets = []
    for check in config.checks:
        if not check.enabled:
            continue
        for name in check.locations:
            if name in checks:
                checks[name].append(check)
        if check.agent_secrets:
            secrets.append(check.key)
    made = StaticAssignments(remote, checks, share_secrets=secrets)
    _last = (config, made)
    return made


__all__ = ["NO_LOCATIONS", "Assignments", "StaticAssignments", "assignments_of",
           "serves_agents"]
