"""The ``locations:`` section (where checks run from) and what checks say of it.

A **location** is a place a check can run from: the server itself (``locations.self``,
named ``local`` by default) and the remote places whose ``vigie agent`` pushes results
(``locations.remote``). A check lists its locations (``locations: [local, lyon]``; the
server's own by default, so a file without ``locations:`` behaves as it always did) and a
``quorum``: how many of them must see it down before members are told
(:mod:`monitor.locations`, docs/locations.md).

What a check names is checked on the raw data by :func:`location_issues`, each problem at
its key, whatever else is wrong in the file; :func:`resolved_locations` gives a check its
locations and quorum once the file is valid.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from monitor.config_issues import ConfigIssue, Loc, format_loc, quote, unknown_name
from monitor.config_types import IDENT, LocalizedText
from monitor.schema import Duration, StrictModel

#: the server's own location when ``locations.self`` does not name it
DEFAULT_SELF = "local"
DEFAULT_SELF_LABEL = LocalizedText(fr="Serveur Vigie", en="Vigie server")


class LocationConfig(StrictModel):
    """A remote place checks run from (a ``vigie agent`` there pushes their results)."""

    #: the location's name (lower-case letters, digits, ``-``, ``_``): in check lists,
    #: agent tokens and metrics
    name: str = Field(pattern=IDENT)
    #: what volunteers read (default: the name)
    label: LocalizedText | None = None

    def text(self) -> LocalizedText:
        """The label, or the name when there is none."""
        return self.label or LocalizedText(fr=self.name)


class SelfLocation(LocationConfig):
    """The server's own location: where ``vigie run`` itself runs the checks."""

    name: str = Field(default=DEFAULT_SELF, pattern=IDENT)
    label: LocalizedText | None = DEFAULT_SELF_LABEL


class LocationSettings(StrictModel):
    """Where checks run from: the server itself and remote places whose ``vigie agent``
    pushes results (docs/locations.md). Without this section every check runs on the
    server alone, as always."""

    #: the server's own location (its runs of a check count as this location's)
    self: SelfLocation = SelfLocation()
    #: the remote locations, each served by a ``vigie agent``
    remote: list[LocationConfig] = []
    #: a remote location that sent no result for this long is unreachable: left out of
    #: the checks' consensus and told to volunteers (never an outage for members)
    silent_after: Duration = 600.0

    @model_validator(mode="after")
    def _unique(self) -> LocationSettings:
        names = self.names()
        if len(set(names)) != len(names):
            # (the loader says which, at its key: location_issues)
            raise ValueError("a location name is used twice")
        return self

    def names(self) -> list[str]:
        """Every location's name, the server's first."""
        return [self.self.name, *(r.name for r in self.remote)]

    def remote_names(self) -> list[str]:
        """The remote locations' names, in file order."""
        return [r.name for r in self.remote]

    def label(self, name: str) -> LocalizedText:
        """The label of the location ``name`` (its name when it has none or is unknown)."""
        if name == self.self.name:
            return self.self.text()
        for remote in self.remote:
            if remote.name == name:
                return remote.text()
        return LocalizedText(fr=name)


def majority(count: int) -> int:
    """The default quorum of a check run from ``count`` locations: more than half."""
    return count // 2 + 1


def resolved_locations(given: list[str] | None, quorum: int | None,
                       default: tuple[str, ...]) -> tuple[tuple[str, ...], int]:
    """A valid check's ``(locations, quorum)``; ``default`` (the server's own location,
    one tuple shared by every check that names none) when it lists none."""
    locations = tuple(given) if given else default
    return locations, quorum if quorum is not None else majority(len(locations))


def location_issues(data: dict[str, Any], line_of: Any) -> list[ConfigIssue]:
    """Problems of the ``locations`` section's names (one used twice) and of what the
    checks say of locations: an unknown or repeated name, an empty list, a quorum out of
    ``1..n``. Checked on the raw data (``line_of(loc)`` gives a key's line), each at its
    key; wrong types are left to the schema's errors."""
    section = data.get("locations")
    section = section if isinstance(section, dict) else {}
    issues: list[ConfigIssue] = []
    own = section.get("self")
    self_name = own.get("name", DEFAULT_SELF) if isinstance(own, dict) else DEFAULT_SELF
    known: dict[str, Loc] = {}
    if isinstance(self_name, str):
        known[self_name] = ("locations", "self", "name")
    remote = section.get("remote")
    for index, item in enumerate(remote if isinstance(remote, list) else []):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            continue
        loc: Loc = ("locations", "remote", index, "name")
        if name in known:
            first = known[name]
            issues.append(ConfigIssue(
                line_of(loc), loc,
                f"location {quote(name)} is already used by {format_loc(first[:-1])} "
                f"(line {line_of(first)}); location names must be unique"))
        else:
            known[name] = loc
    services = data.get("services")
    for s_index, service in enumerate(services if isinstance(services, list) else []):
        checks = service.get("checks") if isinstance(service, dict) else None
        for c_index, check in enumerate(checks if isinstance(checks, list) else []):
            if isinstance(check, dict):
                issues += _check_issues(check, ("services", s_index, "checks", c_index),
                                        set(known), line_of)
    return issues


def _check_issues(check: dict[str, Any], at: Loc, known: set[str], line_of: Any
                  ) -> list[ConfigIssue]:
    """The problems of one raw check's ``locations`` and ``quorum``."""
    issues: list[ConfigIssue] = []
    listed = check.get("locations")
    count = 1  # the server's own location, when the check lists none
    if isinstance(listed, list):
        if not listed:
            loc: Loc = (*at, "locations")
            issues.append(ConfigIssue(line_of(loc), loc, (
                "list at least one location, or leave the key out (the check then runs "
                "on the server alone)")))
        seen: dict[str, int] = {}
        for index, name in enumerate(listed):
            if not isinstance(name, str):
                continue
            loc = (*at, "locations", index)
            if name not in known:
                issues.append(unknown_name("location", name, known, loc, line_of(loc)))
            elif name in seen:
                issues.append(ConfigIssue(line_of(loc), loc, (
                    f"location {quote(name)} is listed twice (first at "
                    f"{format_loc((*at, 'locations', seen[name]))})")))
            else:
                seen[name] = index
        count = len({n for n in listed if isinstance(n, str)}) or 1
    quorum = check.get("quorum")
    if isinstance(quorum, int) and not isinstance(quorum, bool) and not 1 <= quorum <= count:
        loc = (*at, "quorum")
        allowed = ("must be 1 (the check runs from one location)" if count == 1 else
                   f"must be between 1 and {count} (the check runs from {count} locations)")
        issues.append(ConfigIssue(line_of(loc), loc, f"quorum {allowed}, got {quorum}"))
    return issues
