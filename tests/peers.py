"""What tests wait on instead of time: :class:`Changes` (a condition re-checked at each
change the watched thing notes, on the event loop) and stand-in peers built on it, such as
a TCP server that accepts and never answers (a connection accepted, every connection
closed); for threads, :func:`wait_until` on a :class:`threading.Condition`, and a
:class:`Process` whose output lines a test waits for."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import threading
from collections.abc import Callable
from typing import Self


class Changes:
    """An event a watched thing sets at each change (:meth:`note`), and a wait for a
    condition re-checked at each change: a test waits for what it needs, not for time."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def note(self) -> None:
        """Something watched changed (call it on the event loop)."""
        self._event.set()

    async def wait(self, condition: Callable[[], bool], within: float = 10.0) -> None:
        """Return once ``condition()`` holds; :class:`TimeoutError` after ``within``
        seconds (only stops a hung test)."""
        async with asyncio.timeout(within):
            while not condition():
                self._event.clear()
                await self._event.wait()


class HungServer:
    """A TCP server on 127.0.0.1 that accepts connections and never answers; counts the
    connections accepted and those still open, and lets a test wait for either."""

    def __init__(self, backlog: int = 100) -> None:
        self.open = 0
        self.accepted = 0
        self.port = 0
        self._backlog = backlog
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        #: noted at each connection accepted or closed
        self.changes = Changes()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0,
                                                  backlog=self._backlog)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()
        await asyncio.sleep(0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.accepted += 1
        self.changes.note()
        self._writers.add(writer)
        try:
            await reader.read()  # until the client closes: never answer
        except ConnectionError:
            pass
        finally:
            self.open -= 1
            self.changes.note()
            self._writers.discard(writer)
            writer.close()

    async def wait(self, condition: Callable[[HungServer], bool], within: float = 10.0) -> None:
        """Return once ``condition(self)`` holds, checked at each connection accepted or
        closed; :class:`TimeoutError` after ``within`` seconds (only stops a hung test)."""
        await self.changes.wait(lambda: condition(self), within)

    async def wait_accepted(self, count: int) -> None:
        """Return once ``count`` connections have been accepted in all."""
        await self.wait(lambda server: server.accepted >= count)

    async def wait_closed_connections(self, within: float = 5.0) -> int:
        """The number of connections still open once none is, or after ``within`` seconds."""
        with contextlib.suppress(TimeoutError):
            await self.wait(lambda server: server.open == 0, within)
        return self.open


def wait_until(changed: threading.Condition, predicate, what: str, timeout: float = 60.0):
    """``predicate()``'s value once true, checked each time ``changed`` is notified; fail
    after ``timeout`` seconds (only stops a hung test)."""
    with changed:
        value = changed.wait_for(predicate, timeout)
    assert value, f"not seen in time: {what}"
    return value


class Process:
    """A process (``vigie run``…) whose output, logs included (stderr into stdout, or
    ``stream``, a pipe of its own), is read as it comes, so a test can wait for a line."""

    def __init__(self, proc: subprocess.Popen, stream=None) -> None:
        self.proc = proc
        self.lines: list[str] = []
        #: the output has ended (the process closed it, or died)
        self.ended = False
        self.changed = threading.Condition()
        self._stream = stream if stream is not None else proc.stdout
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._stream is not None
        for line in self._stream:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()
        with self.changed:
            self.ended = True
            self.changed.notify_all()

    def wait_line(self, text: str, what: str, timeout: float = 60.0) -> None:
        """Return once a line containing ``text`` was written; fail if the output ends
        first (the process died) or after ``timeout`` seconds (a hang)."""
        def seen() -> bool:
            return any(text in line for line in self.lines)

        wait_until(self.changed, lambda: seen() or self.ended, what, timeout)
        assert seen(), f"{what}: the process ended first:\n{''.join(self.lines)[-3000:]}"

    def stop(self, sig: int = signal.SIGTERM) -> str:
        """Stop it as systemd would (``sig``, SIGTERM by default; SIGKILL if it is still
        there 30 s later); all it wrote."""
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(10)
        return "".join(self.lines)
