"""The ``nagios`` probe running Debian's real monitoring-plugins and small script plugins."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import aiohttp
import pydantic
import pytest
from aiohttp import web

import plugins.nagios as nagios_plugin
from monitor.config import Check, LocalizedText
from monitor.plugins import ProbeRegistry, build_plugin_manager
from monitor.probe import CheckRef, ProbeFailed, ProbeResult, Status
from monitor.runner import probe_context, run_check
from plugins.nagios import MAX_OUTPUT, NagiosProbe, parse_output, parse_perfdata
from tests.conftest import free_port, require

PLUGIN_DIR = "/usr/lib/nagios/plugins"


async def run(options: dict, timeout: float = 5.0) -> ProbeResult:
    """Validate ``options`` and run the probe once, as the runner would."""
    config = NagiosProbe.Config.model_validate(options)
    async with aiohttp.ClientSession() as http:
        ctx = probe_context(CheckRef("svc", "plugin", "nagios"), timeout, http)
        try:
            return await NagiosProbe().check(config, ctx)
        except ProbeFailed as exc:
            return ProbeResult(exc.status, exc.reason, exc.samples, exc.info)


@pytest.fixture
def monitoring_plugins() -> str:
    """Debian's monitoring-plugins directory (skips/fails when not installed)."""
    require(os.access(f"{PLUGIN_DIR}/check_tcp", os.X_OK)
            and os.access(f"{PLUGIN_DIR}/check_http", os.X_OK),
            "Debian packages monitoring-plugins-basic and -standard are not installed")
    return PLUGIN_DIR


def script(tmp_path, name: str, body: str) -> str:
    """Write an executable plugin script; its path."""
    path = tmp_path / name
    path.write_text(body)
    path.chmod(0o755)
    return str(path)


@pytest.fixture
async def tcp_banner():
    """A TCP server on 127.0.0.1 that greets with ``hello``; its port."""

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@pytest.fixture
async def http_server():
    """An HTTP server on 127.0.0.1: ``/ok`` 200, ``/missing`` 404, ``/broken`` 500."""
    def answer(status: int, text: str):
        async def handler(request: web.Request) -> web.Response:
            return web.Response(status=status, text=text)
        return handler

    app = web.Application()
    app.router.add_get("/ok", answer(200, "bonjour " * 32))
    app.router.add_get("/missing", answer(404, "nope"))
    app.router.add_get("/broken", answer(500, "boom"))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield runner.addresses[0][1]
    await runner.cleanup()


async def test_check_tcp_ok(monitoring_plugins, tcp_banner):
    result = await run({"command": ["check_tcp", "-H", "127.0.0.1", "-p", tcp_banner]})
    assert result.status is Status.UP, result.reason
    assert result.reason.code == "nagios.ok"
    assert result.reason.fr.startswith("Sonde : TCP OK")
    assert result.reason.en.startswith("Plugin: TCP OK")
    assert not result.reason.public  # the plugin's output stays off public places
    assert 0 <= result.samples["nagios_perfdata"]["time"] < 1


async def test_check_tcp_warning_on_unexpected_banner(monitoring_plugins, tcp_banner):
    result = await run({"command": ["check_tcp", "-H", "127.0.0.1", "-p", tcp_banner,
                                    "-e", "goodbye", "-M", "warn"]})
    assert result.status is Status.DEGRADED
    assert result.reason.code == "nagios.warning"
    assert "TCP WARNING" in result.reason.en


async def test_check_tcp_critical_on_closed_port(monitoring_plugins):
    result = await run({"command": [f"{PLUGIN_DIR}/check_tcp", "-H", "127.0.0.1",
                                    "-p", free_port()]})
    assert result.status is Status.DOWN
    assert result.reason.code == "nagios.critical"
    assert "Connection refused" in result.reason.en


async def test_check_http_ok_with_perfdata_in_base_units(monitoring_plugins, http_server):
    result = await run({"command": ["check_http", "-H", "127.0.0.1", "-p", http_server,
                                    "-u", "/ok"]})
    assert result.status is Status.UP, result.reason
    perf = result.samples["nagios_perfdata"]
    assert perf["size"] > 8 * 32  # body plus headers, in bytes
    assert 0 <= perf["time"] < 1


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/missing", Status.DEGRADED, "nagios.warning"),
    ("/broken", Status.DOWN, "nagios.critical"),
])
async def test_check_http_warning_and_critical(monitoring_plugins, http_server, path, status, code):
    result = await run({"command": ["check_http", "-H", "127.0.0.1", "-p", http_server,
                                    "-u", path]})
    assert result.status is status
    assert result.reason.code == code


@pytest.mark.parametrize(("state", "status", "code"), [
    (0, Status.UP, "nagios.ok"),
    (1, Status.DEGRADED, "nagios.warning"),
    (2, Status.DOWN, "nagios.critical"),
    (3, Status.UNKNOWN, "nagios.unknown"),
])
async def test_exit_codes_map_to_statuses(monitoring_plugins, state, status, code):
    result = await run({"command": ["check_dummy", state, "tout va bien ici"]})
    assert result.status is status
    assert result.reason.code == code
    assert result.reason.en.endswith("tout va bien ici")


async def group_gone(pgid: int, within: float = 10.0) -> bool:
    """True once no live process is left in group ``pgid``: SIGKILL takes a moment to
    land, so wait for each member's end on its pidfd (readable once the process has
    ended); False if one outlives ``within`` seconds."""
    loop = asyncio.get_running_loop()
    for pid in group_members(pgid):
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue  # gone already
        ended = loop.create_future()
        loop.add_reader(fd, lambda ended=ended: ended.done() or ended.set_result(None))
        try:
            async with asyncio.timeout(within):
                await ended
        except TimeoutError:
            return False
        finally:
            loop.remove_reader(fd)
            os.close(fd)
    return not group_members(pgid)


async def read_fifo(path) -> str:
    """The first line a process writes to the named pipe ``path``, as it comes (opened
    for writing too, so the pipe never reads as ended before the process opens it)."""
    loop = asyncio.get_running_loop()
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    received = b""
    try:
        async with asyncio.timeout(10):  # only stops a hung test
            while b"\n" not in received:
                readable = loop.create_future()
                loop.add_reader(fd, lambda r=readable: r.done() or r.set_result(None))
                try:
                    await readable
                finally:
                    loop.remove_reader(fd)
                received += os.read(fd, 4096)
    finally:
        os.close(fd)
    return received.decode().splitlines()[0]


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes whose process group is ``pgid``."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


async def test_hanging_plugin_and_its_children_are_killed(tmp_path):
    plugin = script(tmp_path, "check_hang", "#!/bin/sh\n"
                    'sleep 30 &\n'
                    'echo "$$ $!" > "$1/pids"\n'
                    "sleep 30\n")
    os.mkfifo(tmp_path / "pids")
    task = asyncio.create_task(run({"command": [plugin, str(tmp_path)]}, timeout=1.5))
    leader, child = map(int, (await read_fifo(tmp_path / "pids")).split())
    assert {leader, child} <= set(group_members(leader))  # the shell and its child
    result = await task
    assert result.status is Status.DOWN
    # the probe's own deadline fired (the runner's would say "timeout"), a margin before
    # the check's 1.5 s, which the reason names as every probe's timeout reason does
    assert result.reason.code == "nagios.timeout"
    assert "1.5 s" in result.reason.en and "1,5 s" in result.reason.fr
    assert await group_gone(leader)


async def test_children_left_behind_do_not_hold_the_result(tmp_path):
    # the plugin exits at once but its background child keeps our pipe open
    plugin = script(tmp_path, "check_stray", "#!/bin/sh\n"
                    'sleep 30 &\n'
                    'echo $$ > "$1/leader"\n'
                    'echo "STRAY OK - done"\n'
                    "exit 0\n")
    result = await run({"command": [plugin, str(tmp_path)]}, timeout=3)
    # waiting for the child would have run into the time limit: down, nagios.timeout
    assert result.status is Status.UP, result.reason
    assert await group_gone(int((tmp_path / "leader").read_text()))


async def test_garbage_output_is_unknown(tmp_path):
    plugin = script(tmp_path, "check_garbage",
                    "#!/bin/sh\nprintf '\\000\\377\\001\\002zz'\nexit 0\n")
    result = await run({"command": [plugin]})
    assert result.status is Status.UNKNOWN
    assert result.reason.code == "nagios.garbage"


async def test_unexpected_exit_code_is_unknown(tmp_path):
    plugin = script(tmp_path, "check_seven", "#!/bin/sh\necho 'what am I'\nexit 7\n")
    result = await run({"command": [plugin]})
    assert result.status is Status.UNKNOWN
    assert result.reason.code == "nagios.exit_code"
    assert "(7)" in result.reason.en and "what am I" in result.reason.en
    assert not result.reason.public


async def test_no_output_is_unknown_and_shows_stderr(tmp_path):
    plugin = script(tmp_path, "check_silent", "#!/bin/sh\necho 'cannot read config' >&2\nexit 0\n")
    result = await run({"command": [plugin]})
    assert result.status is Status.UNKNOWN
    assert result.reason.code == "nagios.no_output"
    assert "cannot read config" in result.reason.en
    assert not result.reason.public


async def test_huge_output_is_capped_and_does_not_block(tmp_path):
    plugin = script(tmp_path, "check_chatty", "#!/bin/sh\n"
                    "echo 'CHATTY WARNING - lots to say'\n"
                    "head -c 1000000 /dev/zero | tr '\\000' 'a'\n"
                    "exit 1\n")
    result = await run({"command": [plugin]}, timeout=3)
    assert result.status is Status.DEGRADED
    assert result.reason.en == "Plugin: CHATTY WARNING - lots to say"
    assert MAX_OUTPUT < 1_000_000


async def test_environment_is_clean(tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIE_TEST_LEAK", "must not be seen")
    plugin = script(tmp_path, "check_env", f"#!{sys.executable}\n"
                    "import json, os, sys\n"
                    "open(sys.argv[1], 'w').write(json.dumps(dict(os.environ)))\n"
                    "print(f'ENV OK - cwd {os.getcwd()}')\n")
    dump = tmp_path / "env.json"
    result = await run({"command": [plugin, str(dump)], "env": {"PGPASSFILE": "/etc/vigie/pgpass"}})
    assert result.status is Status.UP, result.reason
    assert json.loads(dump.read_text()) == {"PATH": "/usr/bin:/bin", "LC_ALL": "C",
                                            "PGPASSFILE": "/etc/vigie/pgpass"}
    assert result.reason.en.endswith("cwd /")


async def test_arguments_are_not_interpreted_by_a_shell(tmp_path):
    plugin = script(tmp_path, "check_args", "#!/bin/sh\n"
                    'printf "ARGS OK - [%s]\\n" "$1"\n')
    result = await run({"command": [plugin, "$(touch pwned); *"]})
    assert result.reason.en == "Plugin: ARGS OK - [$(touch pwned); *]"
    assert not os.path.exists("/pwned")


async def test_missing_plugin_is_unknown(tmp_path):
    result = await run({"command": ["check_does_not_exist"], "plugin_dir": str(tmp_path)})
    assert result.status is Status.UNKNOWN
    assert result.reason.code == "nagios.not_found"


async def test_plugin_that_is_not_executable_is_unknown(tmp_path):
    path = tmp_path / "check_plain"
    path.write_text("#!/bin/sh\necho OK\n")
    if os.geteuid() == 0:
        path.chmod(0o644)  # root may read anything, but still not execute without any x bit
    result = await run({"command": [str(path)]})
    assert result.status is Status.UNKNOWN
    assert result.reason.code == "nagios.not_executable"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("time=0.5s;1;2;0;10", {"time": 0.5}),
        ("time=250ms", {"time": 0.25}),
        ("time=1500us", {"time": 0.0015}),
        ("load=95%;80;90;0;100", {"load": 95.0}),
        ("size=512B size_kb=2KB used=3MB disk=1TB", {"size": 512.0, "size_kb": 2048.0,
                                                      "used": 3 * 1024.0 ** 2,
                                                      "disk": 1024.0 ** 4}),
        ("packets=1234c", {"packets": 1234.0}),
        ("temp=-5.5;;;", {"temp": -5.5}),
        ("'disk /var'=50%;80;90 'free = space'=12", {"disk /var": 50.0, "free = space": 12.0}),
        ("'it''s'=1", {"it's": 1.0}),
        ("a=U b=2", {"b": 2.0}),
        ("=5 garbage x=abc z=3", {"z": 3.0}),
        ("'unterminated=4", {}),
        ("rate=1.5e3", {"rate": 1500.0}),
        ("odd=7furlongs", {"odd": 7.0}),
        ("", {}),
    ],
)
def test_parse_perfdata(text, expected):
    assert {item.label: item.value for item in parse_perfdata(text)} == pytest.approx(expected)


def test_parse_output_multiline():
    output = ("DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n"
              "/ 15272 MB (77%);\n"
              "/boot 68 MB (69%); | /boot=68MB;88;93;0;98\n"
              "/home=69357MB;253404;253409;0;253414\n")
    parsed = parse_output(output)
    assert parsed.text == "DISK OK - free space: / 3326 MB (56%);"
    assert parsed.long_text == "/ 15272 MB (77%);\n/boot 68 MB (69%);"
    assert [item.label for item in parsed.perfdata] == ["/", "/boot", "/home"]
    assert parsed.perfdata[0].value == 2643 * 1024.0 ** 2


def test_parse_output_without_perfdata():
    parsed = parse_output("PING OK\nline two\n")
    assert (parsed.text, parsed.long_text, parsed.perfdata) == ("PING OK", "line two", ())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"command": []}, "at least 1 item"),
        ({"command": ["bin/check_x"]}, "absolute path or a bare plugin name"),
        ({"command": ["check_x"], "plugin_dir": "plugins"}, "absolute path"),
        ({"command": ["check_x"], "env": {"A=B": "c"}}, "invalid environment variable"),
        ({"command": ["check_x"], "shell": True}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_config(options, message):
    with pytest.raises(pydantic.ValidationError, match=message):
        NagiosProbe.Config.model_validate(options)


def test_config_resolves_the_program_and_stringifies_numbers():
    config = NagiosProbe.Config.model_validate({"command": ["check_tcp", "-p", 5432]})
    assert config.command == ["check_tcp", "-p", "5432"]
    assert config.program() == f"{PLUGIN_DIR}/check_tcp"
    absolute = NagiosProbe.Config.model_validate({"command": ["/opt/check_x"]})
    assert absolute.program() == "/opt/check_x"


async def test_the_probe_explains_a_timeout_before_the_runner_cuts_it():
    # the probe keeps a margin under the check's timeout to say what was slow; the runner's
    # own deadline would only give a generic "no answer in time"
    config = NagiosProbe.Config.model_validate({"command": ["/bin/sleep", "5"]})
    check = Check(ref=CheckRef("svc", "slow", NagiosProbe.kind), name=LocalizedText(fr="Lent"),
                  interval=300, timeout=1.0, confirm=2, retry_interval=30, options=config)
    async with aiohttp.ClientSession() as http:
        result = await run_check(check, NagiosProbe(), http)
    assert result.status is Status.DOWN
    assert result.reason.code == "nagios.timeout"  # not the runner's "timeout"


def test_registered_as_a_plugin():
    pm = build_plugin_manager(load_entry_points=False, extra_plugins=[("nagios", nagios_plugin)])
    kind = ProbeRegistry.from_plugin_manager(pm).get("nagios")
    assert kind is not None and kind.probe_class is NagiosProbe
    assert kind.probe_class.samples[0].label == "label"
