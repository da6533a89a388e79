"""The agent's spool: every result kept on disk, in ``seq`` order, until the server has it.

Layout of ``<data dir>/spool/``:

- ``<first seq>.seg`` — append-only segment files, one record per line: ``<seq> TAB
  <JSON result> TAB <CRC-32 of both, hex> LF``. A segment holds consecutive seqs; a new
  one is started every :data:`SEGMENT_RECORDS` records and at each start of the agent
  (never appended after a line a crash may have cut);
- ``state.json`` — the cursor: ``floor`` (every seq up to it is done: acknowledged by
  the server, or dropped), ``acked``, ``dropped`` (results lost, in all: pushed out by
  the bound, or unreadable on disk) and ``next_seq``; replaced atomically (written,
  fsynced, renamed);
- ``lock`` — held (``flock``) while an agent uses the directory: two agents on one
  spool would hand out the same seqs.

Guarantees: :meth:`Spool.append` returns once its records are on disk (fsynced), and
only such records are ever read for sending, so a seq the server saw is never handed out
again; ``seq`` grows by one per result over the agent's whole life. Every seq either
reaches the server or is counted in ``dropped``: when more than ``max_buffered`` results
wait, the oldest are dropped; a record that cannot be read back (a line cut by a crash
in the middle of a write, a corrupt disk block) is skipped, counted, and its segment
rewritten without it, so it is counted once. A ``kill -9`` loses only the results not yet
appended and, at worst, the acknowledgement of the batch in flight (sent again; the
server stores each ``(token, seq)`` once).

:class:`Spool` is synchronous and not thread-safe; the agent uses it through
:class:`SpoolThread`, which runs every call in one thread of its own, so disk waits
(fsync) never hold the event loop and no two calls overlap.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import json
import logging
import os
import zlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

#: records per segment file before a new one is started
SEGMENT_RECORDS = 1000
#: default bound of the results waiting on disk (``--max-buffered``)
DEFAULT_MAX_BUFFERED = 100_000
SUFFIX = ".seg"
STATE = "state.json"


class SpoolLocked(Exception):
    """Another process (a second agent) uses this spool directory."""


@dataclass(slots=True)
class _Segment:
    """One segment file: the seqs it holds (consecutive) and how many records."""

    path: Path
    first: int
    last: int
    count: int

    def above(self, floor: int) -> int:
        """Records of this segment with a seq above ``floor``."""
        return max(0, min(self.count, self.last - max(floor, self.first - 1)))


def encode(seq: int, record: Mapping[str, Any]) -> bytes:
    """The spool line of ``record`` under ``seq`` (the JSON carries the seq first)."""
    payload = json.dumps({"seq": seq, **record}, ensure_ascii=False, allow_nan=False,
                         separators=(",", ":")).encode()
    body = b"%d\t%s" % (seq, payload)
    return b"%s\t%08x\n" % (body, zlib.crc32(body))


def decode(line: bytes) -> tuple[int, bytes] | None:
    """``(seq, JSON payload)`` of a spool line, or None when it is cut or corrupt."""
    if not line.endswith(b"\n"):
        return None
    body, tab, crc = line[:-1].rpartition(b"\t")
    seq_text, tab2, payload = body.partition(b"\t")
    if not tab or not tab2 or len(crc) != 8 or not seq_text.isdigit():
        return None
    try:
        if int(crc, 16) != zlib.crc32(body):
            return None
    except ValueError:
        return None
    return int(seq_text), payload


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """The spool directory of one agent (see the module).

    :param directory: ``<data dir>/spool`` (created, mode 0700).
    :param max_buffered: most results kept waiting; beyond, the oldest are dropped.
    :param segment_records: records per segment file.
    """

    def __init__(self, directory: Path, max_buffered: int = DEFAULT_MAX_BUFFERED,
                 segment_records: int = SEGMENT_RECORDS) -> None:
        if max_buffered < 1:
            raise ValueError(f"max_buffered must be at least 1, got {max_buffered}")
        self.directory = Path(directory)
        self.max_buffered = max_buffered
        self.segment_records = max(1, segment_records)
        #: every seq up to this one is done (acknowledged or dropped)
        self.floor = 0
        #: the highest seq the server acknowledged
        self.acked = 0
        #: results lost in all (the bound, unreadable records)
        self.dropped = 0
        #: the seq the next result gets
        self.next_seq = 1
        self._segments: list[_Segment] = []
        self._writing: BinaryIO | None = None
        self._lock: int | None = None
        #: (segment, byte offset, seq) just after the last result :meth:`pending` read
        self._cursor: tuple[Path, int, int] | None = None

    # Opening and closing --------------------------------------------------------------

    def open(self) -> None:
        """Lock the directory, read the cursor and the segments, repair what a crash
        left, and count what is waiting.

        :raises SpoolLocked: another agent holds the directory.
        :raises OSError: the directory cannot be created or read.
        """
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            self._lock = None
            raise SpoolLocked(f"another vigie agent uses {self.directory}") from None
        self._read_state()
        lost = 0
        paths = [p for p in self.directory.glob(f"*{SUFFIX}") if _first_seq(p) > 0]
        for path in sorted(paths, key=_first_seq):
            segment, unreadable, highest = self._scan(path)
            lost += unreadable
            # a record cut at the very end was being written: its seq was handed out
            self.next_seq = max(self.next_seq, highest + 1)
            if segment is None:
                path.unlink()
            else:
                self._segments.append(segment)
        if lost:
            log.warning("spool: %d unreadable result record(s) skipped (a write cut by a "
                        "crash, or a damaged disk); counted as dropped", lost)
            self.dropped += lost
        self.next_seq = max(self.next_seq, self.floor + 1)
        self._forget_done()
        self._write_state()

    def close(self) -> None:
        """Close the segment being written and release the directory."""
        if self._writing is not None:
            self._writing.close()
            self._writing = None
        if self._lock is not None:
            os.close(self._lock)  # releases the flock
            self._lock = None

    def _read_state(self) -> None:
        path = self.directory / STATE
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            self.floor = max(0, int(state["floor"]))
            self.acked = max(0, int(state["acked"]))
            self.dropped = max(0, int(state["dropped"]))
            self.next_seq = max(1, int(state["next_seq"]))
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError):
            # the results are still in the segments: sending them again is safe (the
            # server keeps each seq once)
            log.warning("spool: %s unreadable; starting from the segments on disk", path)

    def _scan(self, path: Path) -> tuple[_Segment | None, int, int]:
        """The segment at ``path`` (None when it holds no readable record), the number
        of unreadable records above the floor, and the highest seq it held, read or not.

        An unreadable record's seq is taken as the one after the record before it (the
        file's name gives the first): records of a segment are consecutive. A segment
        with unreadable records is rewritten without them, so they are counted once.
        """
        lines = path.read_bytes().splitlines(keepends=True)
        good: list[tuple[int, bytes]] = []
        lost = 0
        seq = _first_seq(path) - 1
        for line in lines:
            decoded = decode(line)
            if decoded is None:
                seq += 1
                lost += seq > self.floor
                continue
            seq = decoded[0]
            good.append((seq, line))
        if len(good) != len(lines):
            log.warning("spool: %s: %d unreadable record(s)", path.name,
                        len(lines) - len(good))
            if good:
                self._rewrite(path, b"".join(line for _, line in good))
        if not good:
            return None, lost, seq
        return _Segment(path, good[0][0], good[-1][0], len(good)), lost, seq

    def _rewrite(self, path: Path, data: bytes) -> None:
        temporary = path.with_suffix(".tmp")
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        _fsync_dir(self.directory)

    # Writing --------------------------------------------------------------------------

    def append(self, records: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
        """Give each record the next seq, write them, fsync; return ``(first, last)`` seq
        (``(n, n - 1)`` for no record). Drops the oldest waiting results beyond the bound.

        A record that cannot be written as JSON (a NaN, a key that is not a string: a
        bug, the agent's records are made for JSON) is logged and left out, without a seq.
        """
        lines = []
        seq = self.next_seq
        for record in records:
            try:
                lines.append(encode(seq, record))
            except (TypeError, ValueError) as exc:
                log.error("spool: a result of %s cannot be written as JSON (%s); left out",
                          record.get("check"), exc)
                continue
            seq += 1
        first = self.next_seq
        if not lines:
            return first, first - 1
        start = 0
        while start < len(lines):
            handle, segment = self._segment_for_writing(first + start)
            room = self.segment_records - segment.count
            chunk = lines[start:start + room]
            handle.write(b"".join(chunk))
            handle.flush()
            os.fsync(handle.fileno())
            segment.count += len(chunk)
            segment.last = first + start + len(chunk) - 1
            start += len(chunk)
        self.next_seq = seq
        if self.buffered > self.max_buffered:
            self._drop_oldest(self.buffered - self.max_buffered)
        return first, seq - 1

    def _segment_for_writing(self, first: int) -> tuple[BinaryIO, _Segment]:
        current = self._segments[-1] if self._segments else None
        if (self._writing is None or current is None
                or current.count >= self.segment_records):
            if self._writing is not None:
                self._writing.close()
            path = self.directory / f"{first:020d}{SUFFIX}"
            self._writing = open(path, "ab")  # noqa: SIM115 - kept open across appends
            _fsync_dir(self.directory)
            current = _Segment(path, first, first - 1, 0)
            self._segments.append(current)
        return self._writing, current

    def _drop_oldest(self, excess: int) -> None:
        dropped = 0
        for segment in self._segments:
            if excess <= 0:
                break
            above = segment.above(self.floor)
            if not above:
                continue
            take = min(above, excess)
            self.floor = max(self.floor, segment.first - 1) + take
            excess -= take
            dropped += take
        self.dropped += dropped
        log.warning("spool: more than %d results waiting; the %d oldest dropped "
                    "(%d dropped in all)", self.max_buffered, dropped, self.dropped)
        self._forget_done()
        self._write_state()

    # Reading and acknowledging ----------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Results waiting to be sent (above the floor)."""
        return sum(segment.above(self.floor) for segment in self._segments)

    @property
    def last_seq(self) -> int:
        """The seq of the newest result written (0 before any)."""
        return self.next_seq - 1

    def pending(self, limit: int) -> list[tuple[int, bytes]]:
        """The oldest ``limit`` waiting results, ``(seq, JSON)`` in seq order.

        Reading goes on where the previous call stopped when the floor has reached what
        it returned (the usual case: the batch was acknowledged), rather than from the
        segment's start.
        """
        out: list[tuple[int, bytes]] = []
        for segment in self._segments:
            if len(out) >= limit:
                break
            if segment.last <= self.floor:
                continue
            offset = 0
            cursor = self._cursor
            if cursor is not None and cursor[0] == segment.path and cursor[2] <= self.floor:
                offset = cursor[1]
            with open(segment.path, "rb") as handle:
                handle.seek(offset)
                for line in handle:
                    offset += len(line)
                    decoded = decode(line)
                    if decoded is None or decoded[0] <= self.floor:
                        continue
                    out.append(decoded)
                    if len(out) >= limit:
                        break
            if out:
                self._cursor = (segment.path, offset, out[-1][0])
        return out

    def acknowledge(self, last_seq: int) -> None:
        """The server has every result up to ``last_seq``: forget them (durably)."""
        self.acked = max(self.acked, last_seq)
        if last_seq <= self.floor:
            self._write_state()
            return
        self.floor = min(last_seq, self.last_seq)
        self._forget_done()
        self._write_state()

    def skip(self, seq: int) -> None:
        """Drop the waiting result ``seq`` (the server refuses it whatever the batch);
        counted in :attr:`dropped`. Only the oldest waiting result can be skipped."""
        oldest = self.pending(1)
        if not oldest or oldest[0][0] != seq:
            raise ValueError(f"seq {seq} is not the oldest waiting result")
        self.floor = seq
        self.dropped += 1
        self._forget_done()
        self._write_state()

    def _forget_done(self) -> None:
        """Delete the segments whose results are all done (but the one being written)."""
        kept = []
        for segment in self._segments:
            writing = self._writing is not None and segment is self._segments[-1]
            if segment.last <= self.floor and segment.count and not writing:
                segment.path.unlink(missing_ok=True)
            else:
                kept.append(segment)
        if len(kept) != len(self._segments):
            self._segments = kept
            _fsync_dir(self.directory)
        if (self._writing is not None and kept and kept[-1].last <= self.floor
                and kept[-1].count >= self.segment_records):
            # full and done: the next append starts a new segment, this one can go
            self._writing.close()
            self._writing = None
            kept[-1].path.unlink(missing_ok=True)
            kept.pop()

    def _write_state(self) -> None:
        state = {"floor": self.floor, "acked": self.acked, "dropped": self.dropped,
                 "next_seq": self.next_seq}
        path = self.directory / STATE
        temporary = path.with_suffix(".tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        _fsync_dir(self.directory)


def _first_seq(path: Path) -> int:
    try:
        return int(path.stem)
    except ValueError:
        return -1


class SpoolThread:
    """A :class:`Spool` used from the event loop: each call runs in the one thread of
    this object, in the order the calls were made."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vigie-spool")

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` (a method of the spool, or a lambda reading it) in the
        spool's thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, functools.partial(function, *args))

    def shutdown(self) -> None:
        """Wait for the calls in progress, then end the thread."""
        self._thread.shutdown(wait=True)
