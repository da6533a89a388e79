"""Hostile configuration files: `vigie config check` refuses them with one clear line
(file, line, key) and exit status 2, never a traceback, a hang or a secret echoed back.

Each case runs the real command in a subprocess; its timeout only fails on a hang (an
alias bomb ran for minutes before the limits).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from monitor.config_issues import MAX_ALIAS_VALUES, MAX_DEPTH, MAX_FILE_BYTES

#: runs the real ``vigie`` entry point (plugins from the entry points, as installed)
VIGIE = [sys.executable, "-c", "import sys; from monitor.cli import main; main(sys.argv[1:])"]
SECRET = "S3cr3t-P4ss"


def check(path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``vigie config check PATH`` with ``env`` added to the environment."""
    return subprocess.run([*VIGIE, "config", "check", str(path)], cwd=path.parent,
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, **env})


def refused(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The problem lines of a refusal; fails unless it is one (exit 3, no traceback)."""
    assert result.returncode == 3, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr and "Error:" not in result.stderr.split(":")[0]
    head, *problems = result.stderr.strip().splitlines()
    assert head.startswith("Invalid configuration")
    return problems


def write(tmp_path: Path, text: str, name: str = "vigie.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# Shapes that used to exhaust time, memory or the stack ------------------------------------


def test_alias_bomb_is_refused(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]")
    lines.append("services: *a9")
    path = write(tmp_path, "\n".join(lines) + "\n")
    (problem,) = refused(check(path))
    assert problem.startswith(f"{path}:")
    line = int(problem.split(":")[1])
    assert 2 <= line <= 11  # one of the aliases
    assert f"aliases expand to more than {MAX_ALIAS_VALUES:,} values" in problem


def test_aliases_under_the_limit_still_work(tmp_path):
    path = write(tmp_path, textwrap.dedent("""\
        defaults: &d {interval: 1m}
        services:
          - id: web
            name: Web
            checks:
              - {id: a, kind: tcp, host: 127.0.0.1, port: 1}
        store: {retention: 30d}
        scheduler: {}
        """))
    result = check(path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("opening, closing", [("[", "]"), ("{a: ", "}")],
                         ids=["sequences", "mappings"])
def test_deep_nesting_is_refused(tmp_path, opening, closing):
    path = write(tmp_path, "site:\n  title: " + opening * 50_000 + "x" + closing * 50_000 + "\n")
    (problem,) = refused(check(path))
    assert problem.startswith(f"{path}:2: site.title")
    assert f"nested more than {MAX_DEPTH} levels deep" in problem


def test_deep_block_nesting_is_refused(tmp_path):
    text = "".join(f"{'  ' * level}k{level}:\n" for level in range(2_000)) + "  " * 2_000 + "x\n"
    (problem,) = refused(check(write(tmp_path, text)))
    assert f"nested more than {MAX_DEPTH} levels deep" in problem


def test_deep_nesting_after_an_unusual_shape_is_refused(tmp_path):
    # an anchor on a key sends the file to the reference reader: limited too
    text = "&k a: 1\nc: " + "[" * 50_000 + "\n"
    (problem,) = refused(check(write(tmp_path, text)))
    assert f"nested more than {MAX_DEPTH} levels deep" in problem


def test_alias_bomb_after_an_unusual_shape_is_refused(tmp_path):
    lines = ["&k x: 1", 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]")
    (problem,) = refused(check(write(tmp_path, "\n".join(lines) + "\n")))
    assert f"aliases expand to more than {MAX_ALIAS_VALUES:,} values" in problem


def test_file_over_the_size_limit_is_refused(tmp_path):
    path = tmp_path / "vigie.yaml"
    with path.open("w", encoding="utf-8") as out:
        out.write("services: []\n")
        comment = "#" + "x" * 1023 + "\n"
        for _ in range(MAX_FILE_BYTES // len(comment) + 1):
            out.write(comment)
    (problem,) = refused(check(path))
    assert problem.startswith(f"{path}: ")
    assert f"at most {MAX_FILE_BYTES // 2**20} MiB" in problem


def test_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "vigie.yaml"
    path.write_bytes(b"services: []\nsite:\n  title: caf\xe9\n")
    (problem,) = refused(check(path))
    assert problem.startswith(f"{path}:3: ")
    assert "not UTF-8" in problem


def test_long_texts_are_not_repeated_whole(tmp_path):
    long = "x" * 1_000_000
    path = write(tmp_path, textwrap.dedent(f"""\
        ? {long}
        : 1
        services:
          - id: {long}
            name: Web
            group: {long}
            checks:
              - {{id: a, kind: {long}, host: 127.0.0.1, port: 1}}
        """))
    problems = refused(check(path))
    assert len(problems) >= 3
    assert all(len(problem) < 1000 for problem in problems), [len(p) for p in problems]


# Values from ${VAR} are never repeated ----------------------------------------------------


def test_interpolated_values_are_never_repeated(tmp_path):
    path = write(tmp_path, textwrap.dedent("""\
        server:
          listen: ${VIGIE_PW}
        defaults:
          interval: ${VIGIE_PW}
        groups:
          - {id: main, name: Main}
        services:
          - id: ${VIGIE_PW}
            name: Web
            checks:
              - {id: a, kind: tcp, host: 127.0.0.1, port: 1}
          - id: web
            name: Web
            group: ${VIGIE_PW}
            checks:
              - {id: a, kind: tcp, host: 127.0.0.1, port: "${VIGIE_PW}"}
              - {id: b, kind: "${VIGIE_PW}"}
              - {id: c, kind: tcp, host: "x", port: 1, timeout: "1${VIGIE_PW}"}
        """))
    result = check(path, VIGIE_PW=SECRET)
    problems = refused(result)
    assert SECRET not in result.stdout + result.stderr
    assert SECRET.lower() not in (result.stdout + result.stderr).lower()
    expected = {
        2: "server.listen: ",
        4: "defaults.interval: ",
        8: "services[0].id: ",
        14: "services[1].group: ",
        16: "services[1].checks[0].port: ",
        17: "services[1].checks[1].kind: ",
        18: "services[1].checks[2].timeout: ",
    }
    for line, key in expected.items():
        (found,) = [p for p in problems if p.startswith(f"{path}:{line}: {key}")]
        assert "${VIGIE_PW}" in found, found


def test_interpolated_value_in_a_validator_sentence_is_not_repeated(tmp_path):
    # the listen validator quotes the value it got; a short value is hidden too
    path = write(tmp_path, "services: []\nserver:\n  listen: ${VIGIE_PW}\n")
    result = check(path, VIGIE_PW="pw")
    (problem,) = refused(result)
    assert problem == (f"{path}:3: server.listen: expected host:port, e.g. 127.0.0.1:8080, "
                       "got the value given by ${VIGIE_PW}")
    assert "'pw'" not in result.stderr


def test_secret_file_content_is_never_repeated(tmp_path):
    token = tmp_path / "token"
    token.write_text("not a token: " + SECRET + "\n", encoding="utf-8")
    url = tmp_path / "db-url"
    url.write_text(f"mysql://vigie:{SECRET}@db/vigie\n", encoding="utf-8")
    path = write(tmp_path, textwrap.dedent(f"""\
        store:
          url_file: {url}
        services:
          - id: jobs
            name: Jobs
            checks:
              - {{id: backup, kind: heartbeat, token_file: {token}, expected_every: 1d}}
        """))
    result = check(path)
    problems = refused(result)
    assert SECRET not in result.stdout + result.stderr
    assert any(p.startswith(f"{path}:2: store.url") for p in problems), problems
    assert any(p.startswith(f"{path}:7: services[0].checks[0].token") for p in problems), problems
