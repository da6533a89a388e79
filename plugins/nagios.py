"""Probe kind ``nagios``: run any Nagios / monitoring-plugins command and read its verdict.

The command is an argument list, run without a shell, in a new session (its own process
group) with a clean environment (``PATH=/usr/bin:/bin``, ``LC_ALL=C`` plus the check's
``env``), stdin closed and the working directory ``/``. Exit codes 0/1/2/3 map to
up/degraded/down/unknown; the first line of output (before ``|``) is the reason, and the
performance data (on the first line after ``|`` and on the lines after the first ``|`` of
the long text, per the plugin guidelines) become the ``nagios_perfdata`` sample, one value
per label, in base units.

When the plugin overruns, the whole process group is killed (SIGKILL) and reaped; the
group is also killed after a normal exit, so a plugin's stray children never outlive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from pydantic import Field, field_validator

from monitor.api import (
    Number,
    Probe,
    ProbeConfig,
    ProbeContext,
    ProbeFailed,
    ProbeResult,
    SampleSpec,
    Status,
    Words,
    _,
    clean_line,
    hookimpl,
    reason,
)

#: output kept from each of stdout and stderr; the rest is read and dropped so a chatty
#: plugin never blocks on a full pipe
MAX_OUTPUT = 64 * 1024
#: the first line shown as the reason is cut here
MAX_REASON = 200

CLEAN_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}

_STATUSES = {0: Status.UP, 1: Status.DEGRADED, 2: Status.DOWN, 3: Status.UNKNOWN}
_STATE_NAMES = {0: "ok", 1: "warning", 2: "critical", 3: "unknown"}

#: unit of measure → factor to the base unit (seconds, bytes; %, counters as they are).
#: Byte multiples are powers of 1024, as monitoring-plugins (check_disk…) compute them.
UNIT_FACTORS = {
    "": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "%": 1.0, "c": 1.0,
    "b": 1.0, "kb": 1024.0, "mb": 1024.0 ** 2, "gb": 1024.0 ** 3, "tb": 1024.0 ** 4,
    "kib": 1024.0, "mib": 1024.0 ** 2, "gib": 1024.0 ** 3, "tib": 1024.0 ** 4,
}
_VALUE = re.compile(r"^([-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?)([^\d;]*)$")
# text that is not text: NUL and the C0 controls other than tab, newline, carriage return
_BINARY = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class NagiosConfig(ProbeConfig):
    """Keys of a ``kind: nagios`` check."""

    #: program and arguments, e.g. ``[check_tcp, -H, db.example.coop, -p, "5432"]``; a bare
    #: program name is looked up in ``plugin_dir``
    command: list[str] = Field(min_length=1)
    plugin_dir: str = "/usr/lib/nagios/plugins"
    #: variables added to the clean environment (they may override PATH and LC_ALL)
    env: dict[str, str] = {}

    @field_validator("command", mode="before")
    @classmethod
    def _numbers_as_text(cls, value: Any) -> Any:
        # YAML turns `-p 5432` into a number; an argument is always text
        if isinstance(value, list):
            return [str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                    for v in value]
        return value

    @field_validator("command")
    @classmethod
    def _program(cls, value: list[str]) -> list[str]:
        if any("\x00" in arg for arg in value):
            raise ValueError("an argument contains a NUL character")
        program = value[0]
        if not program:
            raise ValueError("the program name is empty")
        if "/" in program and not program.startswith("/"):
            raise ValueError(f"{program!r}: give an absolute path or a bare plugin name "
                             "(looked up in plugin_dir)")
        return value

    @field_validator("plugin_dir")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("plugin_dir must be an absolute path")
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not name or "=" in name or "\x00" in name + text:
                raise ValueError(f"invalid environment variable {name!r}")
        return value

    def program(self) -> str:
        """Absolute path of the program to run."""
        first = self.command[0]
        return first if first.startswith("/") else str(PurePosixPath(self.plugin_dir) / first)

    def environment(self) -> dict[str, str]:
        """The plugin's whole environment."""
        return {**CLEAN_ENV, **self.env}


@dataclass(frozen=True, slots=True)
class PerfItem:
    """One performance data item, its value converted to the base unit."""

    label: str
    value: float
    unit: str


@dataclass(frozen=True, slots=True)
class PluginOutput:
    """A plugin's output split per the guidelines: first line, long text, perfdata."""

    text: str
    long_text: str
    perfdata: tuple[PerfItem, ...]


def parse_output(output: str) -> PluginOutput:
    """Split plugin output into its first line, its long text and its performance data.

    ``TEXT | PERF`` on the first line; then long-text lines, until one holds ``|``:
    what follows it, and every later line, is performance data.
    """
    lines = output.splitlines()
    first = lines[0] if lines else ""
    text, bar, perf = first.partition("|")
    perf_parts = [perf] if bar else []
    long_lines: list[str] = []
    in_perf = False
    for line in lines[1:]:
        if in_perf:
            perf_parts.append(line)
        elif "|" in line:
            before, _unused, after = line.partition("|")
            long_lines.append(before)
            perf_parts.append(after)
            in_perf = True
        else:
            long_lines.append(line)
    items = tuple(item for part in perf_parts for item in parse_perfdata(part))
    return PluginOutput(text.strip(), "\n".join(long_lines).strip(), items)


def parse_perfdata(text: str) -> list[PerfItem]:
    """Parse ``'label'=value[UOM];[warn];[crit];[min];[max]`` items separated by spaces.

    Labels may be quoted with single quotes (then they may hold spaces and ``=``; a quote
    inside is doubled). Items that do not parse, and ``U`` (undetermined) values, are
    skipped: a plugin's odd perfdata must not hide its verdict.
    """
    items: list[PerfItem] = []
    pos, size = 0, len(text)
    while pos < size:
        if text[pos].isspace():
            pos += 1
            continue
        label, pos = _read_label(text, pos)
        if label is None or pos >= size or text[pos] != "=":
            pos = _skip_token(text, pos)
            continue
        end = _skip_token(text, pos + 1)
        item = _perf_item(label, text[pos + 1:end])
        if item is not None:
            items.append(item)
        pos = end
    return items


def _read_label(text: str, pos: int) -> tuple[str | None, int]:
    if text[pos] == "'":
        out, pos = [], pos + 1
        while pos < len(text):
            if text[pos] == "'":
                if text[pos + 1:pos + 2] == "'":  # '' is a quote inside the label
                    out.append("'")
                    pos += 2
                    continue
                return "".join(out), pos + 1
            out.append(text[pos])
            pos += 1
        return None, pos  # unterminated quote
    start = pos
    while pos < len(text) and text[pos] != "=" and not text[pos].isspace():
        pos += 1
    return (text[start:pos] or None), pos


def _skip_token(text: str, pos: int) -> int:
    while pos < len(text) and not text[pos].isspace():
        pos += 1
    return pos


def _perf_item(label: str, spec: str) -> PerfItem | None:
    match = _VALUE.match(spec.split(";", 1)[0])
    if match is None:  # includes "U", undetermined
        return None
    number, unit = match.groups()
    value = float(number.replace(",", "."))
    factor = UNIT_FACTORS.get(unit.lower())
    # an unknown unit is kept as given rather than dropped
    return PerfItem(label, value * factor if factor is not None else value, unit)


def _first_line(text: str) -> str:
    line = next((each for each in text.splitlines() if each.strip()), "")
    return clean_line(line, MAX_REASON)


def _decode(data: bytes) -> str | None:
    """The output as text, or None when it is not text (binary, not UTF-8)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if _BINARY.search(text) else text


async def _read_capped(stream: asyncio.StreamReader | None) -> bytes:
    if stream is None:
        return b""
    kept = bytearray()
    while chunk := await stream.read(65536):
        if len(kept) < MAX_OUTPUT:
            kept += chunk[: MAX_OUTPUT - len(kept)]
    return bytes(kept)


async def _exited(proc: asyncio.subprocess.Process) -> None:
    """Return once the process has exited, whoever still holds its pipes.

    ``Process.wait()`` also waits for the pipes to close, which a plugin's leftover
    child can delay for ever; a pidfd (Linux ≥ 5.3) says when the process itself ends.
    """
    try:
        fd = os.pidfd_open(proc.pid)
    except ProcessLookupError:  # already exited and reaped
        return
    except (AttributeError, OSError):  # no pidfd here: look now and then
        while proc.returncode is None:
            await asyncio.sleep(0.05)
        return
    loop = asyncio.get_running_loop()
    ended = loop.create_future()
    loop.add_reader(fd, lambda: ended.done() or ended.set_result(None))
    try:
        await ended
    finally:
        loop.remove_reader(fd)
        os.close(fd)


async def _reaped(proc: asyncio.subprocess.Process) -> None:
    """Give asyncio's child watcher a moment to reap the killed plugin (SIGKILL cannot be
    ignored), so no process or transport is left behind. Bounded: never hangs a run."""
    for _unused in range(200):
        if proc.returncode is not None:
            return
        await asyncio.sleep(0.005)


def _kill_group(pid: int) -> None:
    # the plugin leads its own group (start_new_session), so its pid is the group id; the
    # kernel keeps that id reserved while any member lives, so this never hits a stranger
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _fail(code: str, words: Words, status: Status = Status.UNKNOWN) -> ProbeFailed:
    return ProbeFailed(reason(code, words), status=status)


#: what members read for the nagios kind's reasons: a plugin checks anything, so the
#: words say how it went, not what was checked
PUBLIC_WORDS: dict[str, Words] = {
    "nagios": _("Vigie could not check the service; the volunteers know"),
    "nagios.critical": _("The service does not work; the volunteers know"),
    "nagios.ok": _("The service works"),
    "nagios.timeout": _("The service does not answer in time"),
    "nagios.warning": _("The service works, but not fully; the volunteers know"),
}


async def run_plugin(config: NagiosConfig, limit: float,
                     shown: float | None = None) -> tuple[int, bytes, bytes]:
    """Run the plugin for at most ``limit`` seconds; its exit code, stdout and stderr.
    ``shown`` is the time limit a timeout reason names (``limit`` by default).

    :raises ProbeFailed: the program cannot be started (UNKNOWN) or overran (DOWN).
    """
    program = config.program()
    try:
        proc = await asyncio.create_subprocess_exec(
            program, *config.command[1:],
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=config.environment(),
            cwd="/",
            start_new_session=True,
        )
    except FileNotFoundError:
        raise _fail("nagios.not_found", _("Plugin not found: {program}",
                                          program=program)) from None
    except PermissionError:
        raise _fail("nagios.not_executable", _("The plugin is not executable: {program}",
                                               program=program)) from None
    except OSError as exc:
        raise _fail("nagios.exec", _("The plugin cannot start: {program} ({error})",
                                     program=program,
                                     error=exc.strerror or type(exc).__name__)) from None
    try:
        async with asyncio.timeout(limit):
            reading = asyncio.gather(_read_capped(proc.stdout), _read_capped(proc.stderr))
            exited = asyncio.ensure_future(_exited(proc))
            try:
                await asyncio.wait({reading, exited}, return_when=asyncio.FIRST_COMPLETED)
                if exited.done():
                    # children the plugin left behind may hold our pipes open: the plugin
                    # is over, so are they
                    _kill_group(proc.pid)
                out, err = await reading
                code = await proc.wait()
            finally:
                reading.cancel()
                exited.cancel()
                await asyncio.gather(reading, exited, return_exceptions=True)
    except TimeoutError:
        raise _fail("nagios.timeout", _("The plugin did not finish within {s} s (killed)",
                                        s=Number(limit if shown is None else shown)),
                    status=Status.DOWN) from None
    finally:
        _kill_group(proc.pid)
        await _reaped(proc)
    return code, out, err


def judge(code: int, stdout: bytes, stderr: bytes) -> ProbeResult:
    """Turn a plugin's exit code and output into a result (see the module docstring)."""
    text = _decode(stdout)
    if text is None:
        raise _fail("nagios.garbage",
                    _("The plugin printed something that is not text (exit code {rc})",
                      rc=code))
    parsed = parse_output(text)
    samples: dict[str, float | dict[str, float]] = {}
    if parsed.perfdata:
        samples["nagios_perfdata"] = {item.label: item.value for item in parsed.perfdata}
    if not parsed.text:
        error = _first_line(_decode(stderr) or "")
        said = _("The plugin printed nothing (exit code {rc})", rc=code)
        if error:  # most often the interpreter's complaint
            said = _("The plugin printed nothing (exit code {rc}): {error}", rc=code,
                     error=error)
        # stderr is the plugin's own text (see monitor.probe.Reason)
        raise ProbeFailed(reason("nagios.no_output", said, public=not error),
                          status=Status.UNKNOWN, samples=samples)
    line = _first_line(parsed.text)
    if code not in _STATUSES:
        why = (f"signal {-code}" if code < 0 else f"{code}")
        raise ProbeFailed(reason(
            "nagios.exit_code",
            _("Plugin: unexpected exit code ({why}): {line}", why=why, line=line), public=False),
            status=Status.UNKNOWN, samples=samples)
    # the plugin's output may name internal hosts, users, paths: volunteers only
    why = reason(f"nagios.{_STATE_NAMES[code]}", _("Plugin: {line}", line=line), public=False)
    return ProbeResult(_STATUSES[code], why, samples=samples)


class NagiosProbe(Probe):
    """Runs a Nagios-compatible plugin and maps its exit code and output."""

    kind = "nagios"
    public_words = PUBLIC_WORDS
    Config = NagiosConfig
    description = "Any Nagios/monitoring-plugins command: exit code, first line, perfdata"
    samples = (
        SampleSpec("nagios_perfdata", "Performance data of the plugin, in base units",
                   label="label"),
    )

    async def check(self, config: NagiosConfig, ctx: ProbeContext) -> ProbeResult:
        """Run the plugin once within the check's timeout."""
        # the run's time ends a little before the runner's hard deadline, leaving the
        # probe time to kill the process group, reap it and say why
        code, out, err = await run_plugin(config, ctx.remaining(), ctx.timeout)
        return judge(code, out, err)


@hookimpl
def vigie_register_probes():
    """Register the ``nagios`` probe kind."""
    return [NagiosProbe]
