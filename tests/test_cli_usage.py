"""The ``vigie`` command line as an operator meets it, run as the real command: exit codes
that mean the same for every command (0 up or done, 1 degraded, 2 down, 3 unknown: the
command could not do what was asked), one language per output (the CLI's, from the
locale), and nothing asked before the configuration is known to be there."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli_common import EXIT_DEGRADED, EXIT_DOWN, EXIT_OK, EXIT_UNKNOWN, cli_language

VIGIE = [sys.executable, "-m", "monitor"]
#: the variables that choose the CLI's language, or whom a command acts as
_CHOOSERS = ("VIGIE_CONFIG", "VIGIE_USER", "LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")


def vigie(*args: str, lang: str = "C.UTF-8", cwd: Path | None = None,
          input: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in _CHOOSERS}
    env["LANG"] = lang
    return subprocess.run([*VIGIE, *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env=env, input=input)


@pytest.fixture
def config(tmp_path) -> Path:
    """One service whose check is down: nothing listens on port 9 of 127.0.0.1."""
    path = tmp_path / "vigie.yaml"
    path.write_text("services:\n  - id: web\n    name: Web\n    checks:\n"
                    "      - {id: home, kind: tcp, host: 127.0.0.1, port: 9}\n")
    return path


def test_the_exit_codes_are_a_monitoring_plugin_s():
    assert (EXIT_OK, EXIT_DEGRADED, EXIT_DOWN, EXIT_UNKNOWN) == (0, 1, 2, 3)


def test_an_unknown_service_is_a_usage_error_not_an_outage(config):
    out = vigie("-c", str(config), "check", "nosuch")
    assert out.returncode == EXIT_UNKNOWN, out.stderr
    assert out.stderr.strip() == "Error: unknown service 'nosuch' (known: web)"
    out = vigie("-c", str(config), "check", "nosuch", lang="fr_FR.UTF-8")
    assert out.returncode == EXIT_UNKNOWN
    assert out.stderr.strip() == "Erreur : service inconnu « nosuch » (connus : web)"


@pytest.mark.parametrize("args", [["--no-such-option"], ["check", "--no-such-option"],
                                  ["notice", "add"], ["no-such-command"]])
def test_click_s_own_usage_errors_exit_3(config, args):
    out = vigie("-c", str(config), *args)
    assert out.returncode == EXIT_UNKNOWN, out.stderr
    assert "Error:" in out.stderr and "Traceback" not in out.stderr


def test_an_invalid_configuration_is_not_down(tmp_path):
    path = tmp_path / "vigie.yaml"
    path.write_text("defaults:\n  interval: often\n")
    for command in (["check"], ["config", "check"], ["notice", "list"], ["db", "upgrade"]):
        out = vigie("-c", str(path), *command)
        assert out.returncode == EXIT_UNKNOWN, (command, out.stderr)
        assert f"{path}:2: defaults.interval: invalid duration 'often'" in out.stderr


def test_check_speaks_one_language(config):
    english = vigie("-c", str(config), "check")
    assert english.returncode == EXIT_DOWN, english.stderr
    header, row = english.stdout.splitlines()
    assert header.split() == ["SERVICE", "CHECK", "KIND", "STATUS", "TIME", "REASON"]
    assert row.split()[:4] == ["web", "home", "tcp", "DOWN"]

    french = vigie("-c", str(config), "check", lang="fr_FR.UTF-8")
    assert french.returncode == EXIT_DOWN, french.stderr
    header, row = french.stdout.splitlines()
    assert header.split() == ["SERVICE", "CONTRÔLE", "TYPE", "ÉTAT", "DURÉE", "RAISON"]
    assert re.match(r"web\s+home\s+tcp\s+EN PANNE\s", row)

    # --lang chooses for this output, headers included
    chosen = vigie("-c", str(config), "check", "--lang", "fr")
    assert chosen.stdout.splitlines()[0].split()[1] == "CONTRÔLE"


def test_user_add_checks_the_configuration_before_asking_a_password(tmp_path):
    out = vigie("user", "add", "camille", cwd=tmp_path,
                input="a long enough pass phrase\na long enough pass phrase\n")
    assert out.returncode == EXIT_UNKNOWN, out.stdout + out.stderr
    assert "Password" not in out.stdout + out.stderr
    assert "vigie.yaml: cannot read file: No such file or directory" in out.stderr


@pytest.mark.parametrize("environ, expected", [
    ({}, "en"), ({"LANG": "fr_FR.UTF-8"}, "fr"), ({"LANG": "fr"}, "fr"),
    ({"LANG": "C.UTF-8"}, "en"), ({"LANG": "de_DE.UTF-8"}, "en"),
    ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "fr_BE.UTF-8"}, "fr"),
    ({"LANG": "fr_FR.UTF-8", "LC_ALL": "C"}, "en"),
    ({"LANG": "fr_FR.UTF-8", "LC_ALL": ""}, "fr"),
])
def test_the_cli_language_follows_the_locale(environ, expected):
    assert cli_language(environ) == expected
