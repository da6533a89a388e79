"""Guides and forum threads for a member's question, from ``vigie_assistance_suggestions``,
within ``assistance.suggest_timeout`` whatever the plugins do.

A web thread asks (:meth:`Suggester.suggest`); the calls run on Vigie's event loop
(:func:`asyncio.run_coroutine_threadsafe`): every implementing plugin at once, a coroutine
awaited there, a synchronous one in a small pool of threads of its own. When the time is
up, what came back is used and the rest is cancelled (a synchronous call cannot be
stopped: it keeps its pool thread, never the page). A plugin that fails is logged and
skipped. What plugins return is outside text: made safe here, web addresses only,
deduplicated by address, at most :data:`PER_KIND` per kind.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import pluggy

from monitor.assistance.request import AssistanceQuery, Suggestion
from monitor.plugins import is_coroutine_hook, plugin_callers
from monitor.safetext import clean_line

log = logging.getLogger(__name__)

HOOK = "vigie_assistance_suggestions"
#: suggestions kept per kind (guides, forum threads)
PER_KIND = 5
#: the kinds a suggestion may have
KINDS = ("guide", "forum")


class Suggester:
    """Calls ``vigie_assistance_suggestions`` on ``loop`` within ``timeout`` seconds.

    :param loop: Vigie's running event loop; None: a loop of its own in a thread, started
        at the first question (the dashboard served alone).
    """

    def __init__(self, plugins: pluggy.PluginManager | None, timeout: float,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.plugins = plugins
        self.timeout = timeout
        self.loop = loop
        self._own_loop = False
        self._start_lock = threading.Lock()
        self._threads = ThreadPoolExecutor(4, thread_name_prefix="vigie-suggest")

    def suggest(self, query: AssistanceQuery) -> list[Suggestion]:
        """The suggestions for ``query``, best first, within the time (none when no
        plugin answers in time)."""
        if self.plugins is None or not plugin_callers(self.plugins, HOOK):
            return []
        loop = self._loop()
        try:
            if asyncio.get_running_loop() is loop:
                log.error("assistance: suggest() called on the event loop; it must run in "
                          "a web thread")
                return []
        except RuntimeError:
            pass  # no loop in this thread: the usual case
        future = asyncio.run_coroutine_threadsafe(self.gather(query), loop)
        try:
            # gather() stops itself at the timeout; the margin only covers a loop too
            # busy to run it at all
            answers = future.result(self.timeout + 1.0)
        except FutureTimeout:
            future.cancel()
            log.warning("assistance: the event loop did not answer for suggestions in time")
            return []
        return tidy(answers)

    async def gather(self, query: AssistanceQuery) -> list[tuple[str, Any]]:
        """Every plugin's answer that came within the time, in plugin order."""
        assert self.plugins is not None
        tasks: list[tuple[str, asyncio.Task]] = []
        for plugin, caller in plugin_callers(self.plugins, HOOK):
            tasks.append((plugin, asyncio.ensure_future(self._call(caller, query))))
        if not tasks:
            return []
        done, pending = await asyncio.wait([t for _, t in tasks], timeout=self.timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        answers = []
        for plugin, task in tasks:
            if task in pending:
                log.info("assistance: plugin %s gave no suggestions in %.1fs", plugin,
                         self.timeout)
                continue
            exc = task.exception()
            if exc is not None:
                log.error("plugin %s failed in %s: %s", plugin, HOOK, exc, exc_info=exc)
                continue
            answers.append((plugin, task.result()))
        return answers

    async def _call(self, caller: pluggy.HookCaller, query: AssistanceQuery) -> Any:
        if is_coroutine_hook(caller):
            values = caller(query=query)
        else:
            loop = asyncio.get_running_loop()
            values = await loop.run_in_executor(self._threads,
                                                functools.partial(caller, query=query))
        value = values[0] if values else None
        if inspect.isawaitable(value):
            value = await value
        return value

    def _loop(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self.loop is None or self.loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="vigie-suggest-loop",
                                 daemon=True).start()
                self.loop, self._own_loop = loop, True
            return self.loop

    def close(self) -> None:
        """Stop the loop of its own, if any, and the threads."""
        if self._own_loop and self.loop is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._threads.shutdown(wait=False, cancel_futures=True)


def tidy(answers: Sequence[tuple[str, Any]]) -> list[Suggestion]:
    """The plugins' suggestions made safe, deduplicated by address, at most
    :data:`PER_KIND` per kind, guides first."""
    from monitor.weblinks import web_address

    seen: set[str] = set()
    kept: dict[str, list[Suggestion]] = {kind: [] for kind in KINDS}
    for plugin, found in answers:
        for item in found or ():
            if not isinstance(item, Suggestion) or item.kind not in kept:
                continue
            url = web_address(item.url)
            if url is None or url in seen or len(kept[item.kind]) >= PER_KIND:
                continue
            seen.add(url)
            kept[item.kind].append(Suggestion(
                kind=item.kind, title=clean_line(item.title, 300) or clean_line(url, 300),
                url=url, excerpt=clean_line(item.excerpt, 300),
                plugin=clean_line(item.plugin, 100) or plugin, opened=False))
    return [s for kind in KINDS for s in kept[kind]]
