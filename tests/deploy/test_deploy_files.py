"""The deploy kit's files: systemd units, container image and compose stack (the nginx
sample has its own file, test_nginx.py).

Docker cannot run here (no engine): the Dockerfile and the compose file are checked by
reading them (instructions, paths, users) and by running the image's health check
command against a real Vigie; the image itself is never built in these tests.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from click.testing import CliRunner

from monitor.cli import cli
from monitor.runtime import run_from_path
from tests.conftest import free_port, which_or_require
from tests.deploy.conftest import DEPLOY, ROOT
from tests.peers import Process

SYSTEMD = DEPLOY / "systemd"
CONTAINER = DEPLOY / "container"
NGINX_SITE = DEPLOY / "nginx" / "vigie.conf"
VENV_BIN = Path(sys.executable).parent
SYSTEMD_ANALYZE_MISSING = "systemd-analyze is not installed (Debian package systemd)"


# systemd ----------------------------------------------------------------------------------


def unit_settings(path: Path) -> dict[str, list[str]]:
    """``key -> values`` of a unit file (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith(("#", ";", "[")) and "=" in line:
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def local_copy(unit: Path, tmp_path: Path) -> Path:
    """The unit with /opt/vigie/bin pointing at this virtualenv (verify wants real binaries)."""
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text(encoding="utf-8").replace("/opt/vigie/bin", str(VENV_BIN)),
                    encoding="utf-8")
    return copy


@pytest.mark.parametrize("name", ["vigie.service", "vigie-dashboard.service",
                                  "vigie-agent.service"])
def test_units_pass_systemd_analyze_verify(name, tmp_path):
    analyze = which_or_require("systemd-analyze", SYSTEMD_ANALYZE_MISSING)
    copy = local_copy(SYSTEMD / name, tmp_path)
    out = subprocess.run([analyze, "verify", "--man=no", str(copy)],
                         capture_output=True, text=True, timeout=60)
    # verify exits 0 on unknown keys and bad values: it only warns ("…, ignoring")
    assert out.returncode == 0, out.stderr
    problems = [line for line in out.stderr.splitlines() if name in line]
    assert problems == []


def test_verify_would_catch_a_misspelt_directive(tmp_path):
    analyze = which_or_require("systemd-analyze", SYSTEMD_ANALYZE_MISSING)
    copy = local_copy(SYSTEMD / "vigie.service", tmp_path)
    copy.write_text(copy.read_text().replace("ProtectSystem=strict", "ProtectSystm=strict"))
    out = subprocess.run([analyze, "verify", "--man=no", str(copy)],
                         capture_output=True, text=True, timeout=60)
    assert "Unknown key 'ProtectSystm'" in out.stderr


def test_a_missing_systemd_analyze_fails_under_ci(tmp_path):
    """With VIGIE_REQUIRE_SERVICES=1 (CI), the verify tests fail when systemd-analyze is
    missing, instead of passing by skipping."""
    env = {**os.environ, "VIGIE_REQUIRE_SERVICES": "1", "PATH": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          f"{__file__}::test_units_pass_systemd_analyze_verify",
                          f"{__file__}::test_verify_would_catch_a_misspelt_directive"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "4 failed" in out.stdout and "skipped" not in out.stdout
    assert SYSTEMD_ANALYZE_MISSING in out.stdout


@pytest.mark.parametrize("name", ["vigie.service", "vigie-dashboard.service"])
def test_units_are_hardened(name):
    settings = unit_settings(SYSTEMD / name)
    expected = {"User": "vigie", "Group": "vigie", "NoNewPrivileges": "yes",
                "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
                "PrivateDevices": "yes", "Restart": "on-failure", "StateDirectory": "vigie",
                "CapabilityBoundingSet": ""}
    assert {k: settings.get(k, [None])[-1] for k in expected} == expected
    # with ProtectSystem=strict, the state directory is the only writable place
    assert "ReadWritePaths" not in settings


def test_vigie_unit_runs_vigie_after_checking_the_configuration():
    settings = unit_settings(SYSTEMD / "vigie.service")
    assert settings["ExecStartPre"] == ["/opt/vigie/bin/vigie config check"]
    assert settings["ExecStart"] == ["/opt/vigie/bin/vigie run"]
    assert settings["Environment"] == ["VIGIE_CONFIG=/etc/vigie/vigie.yaml"]
    assert settings["EnvironmentFile"] == ["-/etc/vigie/vigie.env"]


#: the hardening of vigie.service the agent's unit must have too, value for value
HARDENING = ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices",
             "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
             "ProtectControlGroups", "ProtectClock", "ProtectHostname", "ProtectProc",
             "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID", "LockPersonality",
             "RemoveIPC", "RestrictAddressFamilies", "CapabilityBoundingSet",
             "AmbientCapabilities", "SystemCallArchitectures", "SystemCallFilter",
             "SystemCallErrorNumber", "KillMode", "Restart")


def test_agent_unit_is_hardened_like_vigie_unit():
    vigie = unit_settings(SYSTEMD / "vigie.service")
    agent = unit_settings(SYSTEMD / "vigie-agent.service")
    assert {k: agent.get(k) for k in HARDENING} == {k: vigie[k] for k in HARDENING}
    # its own user (no useradd), the state directory its only writable place
    assert agent["DynamicUser"] == ["yes"] and "User" not in agent
    assert agent["StateDirectory"] == ["vigie-agent"] and "ReadWritePaths" not in agent
    assert agent["StateDirectoryMode"] == ["0700"] and agent["UMask"] == ["0077"]
    # the token comes as a credential: a root-only file, never on the command line
    assert agent["LoadCredential"] == ["token:/etc/vigie-agent/token"]
    # a refused token is not restarted for ever
    from monitor.agent.settings import EXIT_REFUSED

    assert agent["RestartPreventExitStatus"] == [str(EXIT_REFUSED)]


def test_agent_env_example_sets_only_options_of_the_command():
    from monitor.agent.command import agent

    variables = {p.envvar for p in agent.params if p.envvar}
    text = (SYSTEMD / "vigie-agent.env.example").read_text(encoding="utf-8")
    named = re.findall(r"^#?(VIGIE_AGENT_[A-Z_]+)=", text, re.M)
    assert named and set(named) <= variables
    assert "VIGIE_AGENT_TOKEN" not in " ".join(named).replace("VIGIE_AGENT_TOKEN_FILE", "")


def test_agent_unit_command_runs_an_agent(tmp_path):
    """The unit's exact `vigie agent` command line, its variables as systemd sets them
    and its settings from the example file (the server pointed at a stand-in), runs the
    checks and sends their results."""
    from tests.monitor.agent.standin import StandIn, Target, http_check

    settings = unit_settings(SYSTEMD / "vigie-agent.service")
    command = settings["ExecStart"][0].replace("/opt/vigie/bin", str(VENV_BIN))
    credentials, state = tmp_path / "credentials", tmp_path / "state"
    credentials.mkdir()
    env_file = (SYSTEMD / "vigie-agent.env.example").read_text(encoding="utf-8")
    with Target() as target, StandIn([http_check("web/home", f"{target.url}/ok/")]) as standin:
        (credentials / "token").write_text(standin.token + "\n")
        env = {**os.environ, "CREDENTIALS_DIRECTORY": str(credentials),
               "STATE_DIRECTORY": str(state)}
        for line in env_file.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.partition("=")
                env[name] = standin.url if name == "VIGIE_AGENT_SERVER" else value
        # systemd expands ${NAME} in ExecStart= from the variables it sets
        args = shlex.split(command.replace("${CREDENTIALS_DIRECTORY}", str(credentials))
                           .replace("${STATE_DIRECTORY}", str(state)))
        assert args[1] == "agent", args
        agent = Process(subprocess.Popen(args, env=env, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True))
        try:
            standin.wait(lambda: len(standin.stored) >= 1, "a result sent")
        finally:
            output = agent.stop()
    assert agent.proc.returncode == 0, output
    assert (state / "spool").is_dir()


def test_env_example_has_only_placeholders():
    text = (SYSTEMD / "vigie.env.example").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert re.match(r"^VIGIE_[A-Z0-9_]+=", line), line
            assert "change-me" in line or "0000" in line, f"not a placeholder: {line}"


def test_dashboard_unit_command_serves_the_status_page(tmp_path):
    """The unit's exact `vigie dashboard` command line, on a free port, answers /."""
    command = unit_settings(SYSTEMD / "vigie-dashboard.service")["ExecStart"][0]
    args = [a.replace("/opt/vigie/bin", str(VENV_BIN)) for a in shlex.split(command)]
    port = free_port()
    args = [f"--listen=127.0.0.1:{port}" if a.startswith("--listen=") else a for a in args]
    assert args[1] == "dashboard", args
    config = tmp_path / "vigie.yaml"
    config.write_text(textwrap.dedent(f"""\
        data_dir: {tmp_path / "data"}
        services:
          - id: web
            name: Web
            checks:
              - {{id: port, kind: tcp, host: 127.0.0.1, port: {free_port()}}}
        """))
    env = {**os.environ, "VIGIE_CONFIG": str(config)}
    dashboard = Process(subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True))
    try:
        dashboard.wait_line(f"Vigie status page on http://127.0.0.1:{port}/", "the page up")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            status, body = response.status, response.read().decode()
        assert status == 200
        assert "Web" in body
    finally:
        output = dashboard.stop()
    assert dashboard.proc.returncode == 0, output


# Container image --------------------------------------------------------------------------


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, comments dropped and continuations joined."""
    lines = [l for l in path.read_text(encoding="utf-8").splitlines()
             if not l.lstrip().startswith("#")]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in text.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


def test_dockerfile_shape():
    steps = dockerfile_instructions(CONTAINER / "Dockerfile")
    froms = [args for op, args in steps if op == "FROM"]
    assert froms == ["python:3.11-slim AS build", "python:3.11-slim"]
    final = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM"):]
    users = [args for op, args in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert ("VOLUME", '["/var/lib/vigie"]') in final
    assert ("ENTRYPOINT", '["vigie"]') in final
    assert ("CMD", '["run"]') in final
    assert any(op == "RUN" and "pip install" in args and "vigie" in args for op, args in final)
    # the user is switched to before the program runs, after everything installed as root
    last_run = max(i for i, (op, _) in enumerate(final) if op == "RUN")
    assert max(i for i, (op, _) in enumerate(final) if op == "USER") > last_run


def test_dockerfile_copies_every_package_and_nothing_missing():
    steps = dockerfile_instructions(CONTAINER / "Dockerfile")
    sources = []
    for op, args in steps:
        if op == "COPY" and "--from=" not in args:
            sources += args.split()[:-1]
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such path in the repository"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= set(sources), "a package of pyproject.toml is not copied into the image"
    assert pyproject["project"]["readme"] in sources
    ignored = (CONTAINER / "Dockerfile.dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored
    assert not set(sources) & set(ignored)


def healthcheck_code() -> str:
    steps = dockerfile_instructions(CONTAINER / "Dockerfile")
    (args,) = [args for op, args in steps if op == "HEALTHCHECK"]
    exec_form = args.split(" CMD ", 1)[1]
    command = yaml.safe_load(exec_form)  # a JSON array
    assert command[:2] == ["python", "-c"]
    assert "http://127.0.0.1:8080/healthz" in command[2]
    return command[2]


def run_healthcheck(url: str) -> int:
    code = healthcheck_code().replace("http://127.0.0.1:8080/healthz", url)
    return subprocess.run([sys.executable, "-c", code], capture_output=True,
                          timeout=30).returncode


async def test_healthcheck_passes_against_a_running_vigie(tmp_path):
    port = free_port()
    config = tmp_path / "vigie.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\nserver: {{listen: '127.0.0.1:{port}'}}\n")
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run_from_path(config, ready=ready, stop=stop))
    try:
        await asyncio.wait_for(ready.wait(), timeout=20)
        code = await asyncio.to_thread(run_healthcheck, f"http://127.0.0.1:{port}/healthz")
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)
    assert code == 0


async def test_healthcheck_fails_on_503_and_on_no_answer():
    async def stale(request):
        return web.json_response({"ok": False}, status=503)

    app = web.Application()
    app.router.add_get("/healthz", stale)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        assert await asyncio.to_thread(run_healthcheck, f"http://127.0.0.1:{port}/healthz") != 0
    finally:
        await runner.cleanup()
    assert run_healthcheck(f"http://127.0.0.1:{free_port()}/healthz") != 0


# Compose stack ----------------------------------------------------------------------------


def compose() -> dict:
    return yaml.safe_load((CONTAINER / "compose.yaml").read_text(encoding="utf-8"))


def test_compose_services_and_order():
    services = compose()["services"]
    assert set(services) == {"postgres", "vigie-migrate", "vigie", "prometheus", "grafana"}
    vigie = services["vigie"]
    assert vigie["command"] == ["run"]
    assert services["vigie-migrate"]["command"] == ["db", "upgrade"]
    assert vigie["depends_on"]["vigie-migrate"]["condition"] == "service_completed_successfully"
    assert vigie["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert vigie["read_only"] is True and vigie["cap_drop"] == ["ALL"]
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_compose_paths_exist():
    services = compose()["services"]
    for name, service in services.items():
        build = service.get("build")
        if build:
            context = (CONTAINER / build["context"]).resolve()
            assert context == ROOT
            assert (context / build["dockerfile"]).is_file()
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (CONTAINER / source).exists(), f"{name}: {source} does not exist"


def test_compose_grafana_mounts_match_provisioning():
    grafana = compose()["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"])
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/vigie.yaml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert mounts["../grafana/dashboards"] == path
    assert (DEPLOY / "grafana/dashboards/vigie.json").is_file()
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{path}/vigie.json"
    datasource = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/vigie-prometheus.yaml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


def test_compose_variables_are_in_env_example():
    text = (CONTAINER / "compose.yaml").read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{([A-Z_]+)", text))
    example = (CONTAINER / "env.example").read_text(encoding="utf-8")
    defined = set(re.findall(r"^#?\s*([A-Z_]+)=", example, re.M))
    assert used <= defined


def test_container_config_passes_config_check():
    result = CliRunner().invoke(cli, ["config", "check", str(CONTAINER / "vigie.yaml")],
                                env={"VIGIE_DB_PASSWORD": "secret"})
    assert result.exit_code == 0, result.output
    assert "OK (2 services, 2 checks)" in result.output
    config = yaml.safe_load((CONTAINER / "vigie.yaml").read_text())
    assert config["server"]["listen"] == "0.0.0.0:8080"
    assert config["data_dir"] == "/var/lib/vigie"


@pytest.mark.promtool
def test_container_prometheus_config(tmp_path):
    promtool = which_or_require("promtool", "promtool is missing (Debian package prometheus)")
    shutil.copy(CONTAINER / "prometheus.yml", tmp_path / "prometheus.yml")
    shutil.copy(DEPLOY / "prometheus" / "vigie-rules.yml", tmp_path / "vigie-rules.yml")
    out = subprocess.run([promtool, "check", "config", "prometheus.yml"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    mounts = compose()["services"]["prometheus"]["volumes"]
    assert "../prometheus/vigie-rules.yml:/etc/prometheus/vigie-rules.yml:ro" in mounts
