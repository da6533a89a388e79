"""``vigie check``: run checks once, outside the scheduler, and summarise them.

The exit code follows the monitoring-plugins contract so ``vigie check`` can itself be
called from cron, Nagios or a CI job: 0 all up, 1 degraded, 2 down, 3 unknown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.cli_common import EXIT_DEGRADED, EXIT_DOWN, EXIT_OK, EXIT_UNKNOWN
from monitor.config import Check, Service
from monitor.plugins import ProbeRegistry
from monitor.probe import ProbeResult, Status
from monitor.runner import run_check

#: exit code for each status (maintenance announced by the target is not a failure)
EXIT_CODES = {Status.UP: EXIT_OK, Status.MAINTENANCE: EXIT_OK, Status.DEGRADED: EXIT_DEGRADED,
              Status.DOWN: EXIT_DOWN, Status.UNKNOWN: EXIT_UNKNOWN}
# order of badness of exit codes: ok < warning < unknown < critical
_SEVERITY = [EXIT_OK, EXIT_DEGRADED, EXIT_UNKNOWN, EXIT_DOWN]

#: the table's column titles, in each language
HEADERS = {
    "fr": ("SERVICE", "CONTRÔLE", "TYPE", "ÉTAT", "DURÉE", "RAISON"),
    "en": ("SERVICE", "CHECK", "KIND", "STATUS", "TIME", "REASON"),
}
STATUS_WORDS = {
    "fr": {Status.UP: "OK", Status.DEGRADED: "DÉGRADÉ", Status.DOWN: "EN PANNE",
           Status.UNKNOWN: "INCONNU", Status.MAINTENANCE: "MAINTENANCE"},
    "en": {Status.UP: "UP", Status.DEGRADED: "DEGRADED", Status.DOWN: "DOWN",
           Status.UNKNOWN: "UNKNOWN", Status.MAINTENANCE: "MAINTENANCE"},
}


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """One check and the result of its single run."""

    service: Service
    check: Check
    result: ProbeResult


async def run_checks_once(services: Sequence[Service], registry: ProbeRegistry,
                          concurrency: int = 64) -> list[CheckOutcome]:
    """Run every enabled check of ``services`` once, at most ``concurrency`` at a time."""
    from monitor.http_session import make_http_session

    limit = asyncio.Semaphore(max(1, concurrency))
    pairs = [(s, c) for s in services for c in s.checks if c.enabled]

    async with make_http_session() as http:
        async def one(service: Service, check: Check) -> CheckOutcome:
            async with limit:
                probe = registry.get(check.ref.kind).instance  # type: ignore[union-attr]  # config checked the kind
                return CheckOutcome(service, check, await run_check(check, probe, http))

        outcomes = await asyncio.gather(*(one(s, c) for s, c in pairs))
    await registry.aclose()
    return list(outcomes)


def worst_exit_code(statuses: Iterable[Status]) -> int:
    """The monitoring-plugins exit code of the worst status (0 when there is none)."""
    codes = [EXIT_CODES[s] for s in statuses]
    return max(codes, key=_SEVERITY.index, default=0)


def format_table(rows: Sequence[CheckOutcome], lang: str = "fr") -> str:
    """A plain-text table: service, check, kind, status, duration, reason, every word in
    ``lang`` (``fr`` or ``en``)."""
    lang = lang if lang in HEADERS else "fr"
    words, header = STATUS_WORDS[lang], HEADERS[lang]
    lines = [header]
    for row in rows:
        result = row.result
        lines.append((
            row.service.id, row.check.ref.check_id, row.check.ref.kind, words[result.status],
            f"{result.duration * 1000:.0f} ms",
            result.reason.text(lang) if result.reason else "",
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    out = []
    for line in lines:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(line[:-1])]
        out.append("  ".join([*cells, line[-1]]).rstrip())
    return "\n".join(out)
