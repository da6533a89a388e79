"""``vigie agent``'s command line: help, options from flags or the environment, refusals
that say what to fix, and a light process (no database code loaded)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from monitor.agent.settings import SettingsError, read_token, server_url
from monitor.agent.spool import Spool
from monitor.cli import cli

OPTIONS = ("--server", "--token-file", "--data-dir", "--ca-file", "--location-label",
           "--max-buffered", "--concurrency", "--refresh-every", "--max-backoff",
           "--block-plugin", "--log-level")


def vigie(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``vigie …`` as the script runs it (``python -m monitor``), in a fresh process."""
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


def test_help_names_every_option_and_its_variable():
    out = vigie("agent", "--help")
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    for option in OPTIONS:
        assert option in text
        if option != "--log-level":
            assert "VIGIE_AGENT_" + option[2:].upper().replace("-", "_") in text.replace(
                "BLOCK_PLUGINS", "BLOCK_PLUGIN")
    assert "--token " not in text  # a token is never given on the command line
    assert "78" in text and "docs/agent.md" in text


def test_vigie_help_lists_the_agent():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0 and "agent" in result.output
    result = CliRunner().invoke(cli, ["agent", "--help"])
    assert result.exit_code == 0 and "--token-file" in result.output


def test_a_missing_option_exits_with_3():
    out = vigie("agent", "--server", "https://status.example.coop")
    assert out.returncode == 3 and "--token-file" in out.stderr


def test_options_come_from_the_environment_too(tmp_path):
    env = {"VIGIE_AGENT_SERVER": "http://status.example.coop",
           "VIGIE_AGENT_TOKEN_FILE": str(tmp_path / "token"),
           "VIGIE_AGENT_DATA_DIR": str(tmp_path / "data")}
    out = vigie("agent", env=env)
    # read from the variables, and refused: plain http to another machine
    assert out.returncode == 3
    assert "use https://" in out.stderr and "http://status.example.coop" in out.stderr


@pytest.mark.parametrize(("content", "said"), [
    (None, "cannot read it"),
    ("", "the file is empty"),
    ("vga_one\nvga_two\n", "the token alone"),
])
def test_an_unusable_token_file_exits_with_3_and_says_why(tmp_path, content, said):
    token = tmp_path / "token"
    if content is not None:
        token.write_text(content)
    out = vigie("agent", "--server", "https://127.0.0.1:9", "--token-file", str(token),
                "--data-dir", str(tmp_path / "data"))
    assert out.returncode == 3 and said in out.stderr and str(token) in out.stderr
    assert "vga_" not in out.stderr


def test_a_data_directory_in_use_exits_with_3(tmp_path):
    token = tmp_path / "token"
    token.write_text("vga_x\n")
    token.chmod(0o600)
    holder = Spool(tmp_path / "data" / "spool")
    holder.open()
    try:
        out = vigie("agent", "--server", "https://127.0.0.1:9", "--token-file", str(token),
                    "--data-dir", str(tmp_path / "data"))
    finally:
        holder.close()
    assert out.returncode == 3 and "another vigie agent uses" in out.stderr


def test_token_files_readable_by_everyone_are_named(tmp_path, caplog):
    token = tmp_path / "token"
    token.write_text("vga_s3cret\n")
    token.chmod(0o644)
    with caplog.at_level(logging.WARNING, "monitor.agent.settings"):
        assert read_token(token) == "vga_s3cret"
    assert "chmod 600" in caplog.text and "s3cret" not in caplog.text


@pytest.mark.parametrize(("url", "ok"), [
    ("https://status.example.coop/", "https://status.example.coop"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("http://[::1]:8080/vigie/", "http://[::1]:8080/vigie"),
    ("http://localhost", "http://localhost"),
    ("http://status.example.coop", None),
    ("https://user:pw@status.example.coop", None),
    ("ftp://status.example.coop", None),
    ("status.example.coop", None),
])
def test_the_server_address_is_https_unless_local(url, ok):
    if ok is None:
        with pytest.raises(SettingsError):
            server_url(url)
    else:
        assert server_url(url) == ok


#: what an agent process has loaded once it could run its checks (as ``start`` does)
LOADED = r"""
import json, sys
from monitor.launch import main
try:
    main(["agent", "--help"])
except SystemExit:
    pass
from monitor.agent.loop import Agent
from monitor.agent.settings import BUILT_IN_SERVER_ONLY
from monitor.plugins import ProbeRegistry, build_plugin_manager
ProbeRegistry.from_plugin_manager(build_plugin_manager(blocked=BUILT_IN_SERVER_ONLY))
print(json.dumps(sorted(sys.modules)))
"""


def test_an_agent_loads_no_database_code_dashboard_or_bridge():
    out = subprocess.run([sys.executable, "-c", LOADED], capture_output=True, text=True,
                         timeout=120, check=True)
    loaded = set(json.loads(out.stdout.splitlines()[-1]))
    for heavy in ("sqlalchemy", "alembic", "flask", "apprise", "monitor.store",
                  "monitor.cli", "monitor.incidents.models", "dashboard", "docs_bridge",
                  "tickets_bridge"):
        assert heavy not in loaded, heavy
    assert {"plugins.http", "monitor.scheduler", "monitor.runner"} <= loaded
