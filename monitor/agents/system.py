"""The agents' API inside ``vigie run``.

:meth:`AgentSystem.attach` (called by the runtime) serves :class:`~monitor.agents.app.AgentApp`
at ``/api/agent/v1`` when agents are served (``agents.enabled``, by default as soon as a
remote location is configured), registers the agents' metrics, and gives the listener
the path's body limit (``agents.max_batch_bytes``) and threads of its own
(:meth:`AgentSystem.listener_paths`), so pushes never hold the status page's threads.
Its background task reads the tokens again every :data:`REFRESH_EVERY` for the metrics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from monitor.agents.app import PREFIX, AgentApp, LocationSink
from monitor.agents.assignments import Assignments, assignments_of, serves_agents
from monitor.agents.health import AgentHealth
from monitor.agents.metrics import AgentCollector
from monitor.agents.service import agents
from monitor.agents.settings import AgentSettings, settings_of
from monitor.config import PathSettings
from monitor.probe import Probe

if TYPE_CHECKING:
    from monitor.runtime import Runtime
    from monitor.store import Store

log = logging.getLogger(__name__)

#: how often the tokens are read again for the metrics
REFRESH_EVERY = 30.0
#: worker threads of the agents' path (pushes wait on the database, not on the CPU)
THREADS = 2


class AgentSystem:
    """The agents' API of one running Vigie (:meth:`attach`); a test builds one from the
    parts."""

    def __init__(self, store: Store, assignments: Assignments, settings: AgentSettings, *,
                 probe_kinds: Mapping[str, type[Probe]] | None = None,
                 sink: LocationSink | None = None, clock: Callable[[], float] = time.time,
                 store_ready: Callable[[], bool] = lambda: True) -> None:
        self.store = store
        self.settings = settings
        self.health = AgentHealth()
        self.store_ready = store_ready
        self.app = AgentApp(store, assignments, settings, probe_kinds=probe_kinds, sink=sink,
                            health=self.health, clock=clock)

    @classmethod
    def attach(cls, runtime: Runtime, assignments: Assignments | None = None,
               sink: LocationSink | None = None) -> AgentSystem | None:
        """Serve the agents' API in ``runtime`` (mounted, metrics registered), or None
        when agents are not served.

        :param assignments: the locations (default: those of the runtime's configuration,
            :func:`~monitor.agents.assignments.assignments_of`).
        :param sink: where each new result goes (``sink(check_key, location, result)``).
        """
        settings = settings_of(runtime.config)
        if assignments is None:
            assignments = assignments_of(runtime.config)
        if not serves_agents(settings.enabled, assignments):
            return None
        system = cls(runtime.store, assignments, settings, probe_kinds=runtime.probe_kinds,
                     sink=sink, store_ready=lambda: runtime.store_ready)
        runtime.mount(PREFIX, system.app)
        runtime.metrics_registry.register(AgentCollector(system.health))
        return system

    def listener_paths(self, paths: Mapping[str, PathSettings]) -> dict[str, PathSettings]:
        """``server.paths`` with the agents' path added (its body limit
        ``agents.max_batch_bytes``, threads of its own), unless it is configured there."""
        out = dict(paths)
        out.setdefault(PREFIX, PathSettings(max_body=self.settings.max_batch_bytes,
                                            threads=THREADS))
        return out

    def refresh(self) -> bool:
        """Read the tokens again for the metrics; False (logged) when the database could
        not be read."""
        try:
            with self.store.session() as session:
                self.health.load(agents(session))
        except Exception:
            log.warning("agents: cannot read the agent tokens; will retry", exc_info=True)
            return False
        return True

    def tasks(self) -> list[Coroutine[Any, Any, None]]:
        """The background coroutine: reading the tokens for the metrics."""
        return [self._follow()]

    async def _follow(self) -> None:
        while True:
            if self.store_ready():
                await asyncio.to_thread(self.refresh)
            await asyncio.sleep(REFRESH_EVERY)


__all__ = ["REFRESH_EVERY", "AgentSystem"]
