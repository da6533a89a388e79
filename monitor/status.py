"""Statuses, and how bad each one is: the one order every reader ranks them by.

A check run has a :class:`Status`; a service has a :class:`ServiceStatus`, derived from its
checks' (:func:`monitor.state.derive_service_status`); an incident's impact is the label of
a service status. Both enums sit on one scale, best to worst (docs/incidents.md, "How bad
a status is"):

    operational (up) < unknown < maintenance < degraded < partial outage < major outage (down)

- **unknown** says least: nothing could be judged, the target may well be fine;
- **maintenance** is announced and planned: members cannot count on the service, but they
  were told;
- then the unplanned troubles, by how much of the service they take away.

Compare statuses with ``<``, ``>=``… and pick with :func:`worst`; never with their integer
values or codes, which are storage and metric contracts (``vigie_check_status``, the
database) and do not follow this order. A check status reads on the service scale as
:attr:`Status.on_service_scale` (down as a major outage; a check has no partial outage).

Mapping statuses to another vocabulary (a colour, an Apprise message type, an exit code)
is not ranking: such tables stay with their reader and cover every status.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from typing import Any, TypeVar


class _Ordered:
    """Comparison by :attr:`severity` (set on every member below)."""

    severity: int

    def __lt__(self, other: Any) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.severity < other.severity

    def __le__(self, other: Any) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.severity <= other.severity

    def __gt__(self, other: Any) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.severity > other.severity

    def __ge__(self, other: Any) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.severity >= other.severity


class Status(_Ordered, enum.IntEnum):
    """Status of one check run; ``<`` and :func:`worst` follow the one order (module doc).

    The integer values are exported as ``vigie_check_status`` and stored in the database:
    they are a contract, never change, and are not the order.
    """

    UP = 0
    DEGRADED = 1
    DOWN = 2
    UNKNOWN = 3
    #: the target itself announces maintenance (e.g. an application's status endpoint)
    MAINTENANCE = 4

    @property
    def label(self) -> str:
        """Lower-case name used in config, JSON and metric labels."""
        return self.name.lower()

    @property
    def on_service_scale(self) -> ServiceStatus:
        """The service status this check status reads as (down: major outage)."""
        return _ON_SERVICE_SCALE[self]

    @classmethod
    def from_label(cls, label: str) -> Status:
        """The member named ``label`` (``up``, ``down``…); ValueError otherwise."""
        found = cls.__members__.get(label.upper()) if label.islower() else None
        return found if found is not None else _no(cls, label)


class ServiceStatus(_Ordered, enum.Enum):
    """What members see for a service; ``label`` is the ``status`` label of ``vigie_service_status``
    (one series per status, 1 for the current one) and the value stored in the database.

    ``<`` and :func:`worst` follow the one order (module doc); ``code`` does not."""

    OPERATIONAL = ("operational", 0)
    DEGRADED = ("degraded", 1)
    PARTIAL_OUTAGE = ("partial_outage", 2)
    MAJOR_OUTAGE = ("major_outage", 3)
    MAINTENANCE = ("maintenance", 4)
    UNKNOWN = ("unknown", 5)

    def __init__(self, label: str, code: int) -> None:
        self.label = label
        self.code = code

    @property
    def is_outage(self) -> bool:
        """True for the statuses that open an incident outside maintenance."""
        return self in (ServiceStatus.DEGRADED, ServiceStatus.PARTIAL_OUTAGE,
                        ServiceStatus.MAJOR_OUTAGE)

    @classmethod
    def from_label(cls, label: str) -> ServiceStatus:
        """The member named ``label`` (``operational``…); ValueError otherwise."""
        found = _SERVICE_BY_LABEL.get(label)
        return found if found is not None else _no(cls, label)

    @classmethod
    def of(cls, label: str | None) -> ServiceStatus | None:
        """The member named ``label``, or None when it names none (an impact read back
        from elsewhere, which this reader cannot rank)."""
        return _SERVICE_BY_LABEL.get(label) if label is not None else None


def _no(cls: type[Status] | type[ServiceStatus], label: str) -> Any:
    known = ", ".join(member.label for member in cls)
    raise ValueError(f"unknown {cls.__name__} label {label!r}; one of {known}")


#: the one order of service statuses, best to worst
SERVICE_ORDER: tuple[ServiceStatus, ...] = (
    ServiceStatus.OPERATIONAL, ServiceStatus.UNKNOWN, ServiceStatus.MAINTENANCE,
    ServiceStatus.DEGRADED, ServiceStatus.PARTIAL_OUTAGE, ServiceStatus.MAJOR_OUTAGE)
_ON_SERVICE_SCALE = {
    Status.UP: ServiceStatus.OPERATIONAL, Status.UNKNOWN: ServiceStatus.UNKNOWN,
    Status.MAINTENANCE: ServiceStatus.MAINTENANCE, Status.DEGRADED: ServiceStatus.DEGRADED,
    Status.DOWN: ServiceStatus.MAJOR_OUTAGE,
}
_SERVICE_BY_LABEL = {s.label: s for s in ServiceStatus}
for _rank, _status in enumerate(SERVICE_ORDER):
    _status.severity = _rank
for _check, _status in _ON_SERVICE_SCALE.items():
    _check.severity = _status.severity
#: the same order for check statuses, best to worst
CHECK_ORDER: tuple[Status, ...] = tuple(sorted(Status, key=lambda s: s.severity))
del _rank, _status, _check

S = TypeVar("S")
_NOTHING: Any = object()


def worst(items: Iterable[S], key: Callable[[S], Any] | None = None,
          default: Any = _NOTHING) -> S:
    """The worst of ``items`` by the one order, the first one among equals.

    ``key`` picks the status of an item (e.g. a ``(status, reason)`` verdict); ``default``
    is returned when there is none (ValueError without one).
    """
    pick: Callable[[S], Any] = key or (lambda item: item)
    best_item: Any = _NOTHING
    found: Any = None
    for item in items:
        status = pick(item)
        if found is None or status > found:
            best_item, found = item, status
    if best_item is _NOTHING:
        if default is _NOTHING:
            raise ValueError("worst() of nothing")
        return default
    return best_item
