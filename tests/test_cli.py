"""The `vigie` command line, run as a real subprocess against real local servers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

VIGIE = [sys.executable, "-m", "monitor"]


def vigie(*args: str, cwd: Path | None = None, lang: str = "C.UTF-8"
          ) -> subprocess.CompletedProcess:
    """``vigie ARGS``, speaking English unless ``lang`` is a French locale."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIGIE_CONFIG", "LC_ALL", "LC_MESSAGES")}
    env["LANG"] = lang
    return subprocess.run([*VIGIE, *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd, env=env)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        code = 200 if self.path.startswith("/ok") else 503
        body = b"all good" if code == 200 else b"broken"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def web():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def write_config(tmp_path: Path, web: str, bad_path: str = "/ok") -> Path:
    path = tmp_path / "vigie.yaml"
    path.write_text(f"""
groups:
  - id: hosting
    name: {{fr: Hébergement, en: Hosting}}
services:
  - id: web
    name: {{fr: Hébergement web, en: Web hosting}}
    group: hosting
    checks:
      - {{id: home, kind: http, url: "{web}/ok"}}
  - id: mail
    name: Messagerie
    checks:
      - {{id: webmail, kind: http, url: "{web}{bad_path}"}}
""")
    return path


def test_check_all_up_exits_0_and_prints_a_table(tmp_path, web):
    config = write_config(tmp_path, web)
    out = vigie("-c", str(config), "check")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["SERVICE", "CHECK", "KIND", "STATUS", "TIME", "REASON"]
    assert any(line.startswith("web") and " UP " in line for line in lines)


def test_check_down_exits_2_with_a_reason_in_french_and_english(tmp_path, web):
    config = write_config(tmp_path, web, bad_path="/broken")
    out = vigie("-c", str(config), "check", lang="fr_FR.UTF-8")
    assert out.returncode == 2
    assert "EN PANNE" in out.stdout and "503" in out.stdout
    out_en = vigie("-c", str(config), "check", "--lang", "en", "mail", lang="fr_FR.UTF-8")
    assert out_en.returncode == 2
    assert "DOWN" in out_en.stdout and "web " not in out_en.stdout


def test_check_unknown_service_is_a_usage_error(tmp_path, web):
    out = vigie("-c", str(write_config(tmp_path, web)), "check", "nope")
    assert out.returncode == 3
    assert "unknown service 'nope'" in out.stderr


def test_config_check_reports_file_line_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("services:\n  - id: web\n    name: Web\n    checks:\n"
                    "      - id: a\n        kind: http\n        url: http://127.0.0.1/\n"
                    "        intervall: 5m\n")
    out = vigie("config", "check", str(path))
    assert out.returncode == 3
    assert f"{path}:8: services[0].checks[0].intervall: unknown key 'intervall'" in out.stderr
    assert "Traceback" not in out.stderr


def test_config_check_ok(tmp_path, web):
    out = vigie("config", "check", str(write_config(tmp_path, web)))
    assert out.returncode == 0, out.stderr
    assert "OK (2 services, 2 checks)" in out.stdout


def test_probes_lists_builtin_kinds_with_their_plugin():
    out = vigie("probes")
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split()[1] for line in out.stdout.splitlines()[1:]}
    assert rows["http"] == "http"
    assert rows["tcp"] == "tcp"


def test_db_upgrade_creates_the_sqlite_store(tmp_path, web):
    config = write_config(tmp_path, web)
    out = vigie("-c", str(config), "db", "upgrade")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "data" / "vigie.sqlite").exists()


@pytest.mark.parametrize("command", [[], ["run"], ["check"], ["probes"], ["config", "check"],
                                     ["db", "upgrade"], ["demo"]])
def test_every_command_has_help(command):
    out = vigie(*command, "--help")
    assert out.returncode == 0, out.stderr
    assert "Usage:" in out.stdout


def test_config_check_reports_every_problem_of_the_file_in_one_run(tmp_path):
    # the common keys, a kind's own keys, maintenance references and the plugins'
    # sections (a discriminated union among them) in one run, each as file:line: key
    path = tmp_path / "vigie.yaml"
    path.write_text("""\
sitee:
  name: X
services:
  - id: web
    name: Web
    checks:
      - id: home
        kind: http
        urll: http://127.0.0.1/
        interval: 5 minutes
maintenance:
  - id: night
    title: Travaux
    services: [wbe]
    start: "2026-04-05 22:00"
    duration: 2h
guides:
  sources:
    - type: markdown
      path: /tmp
      bse_url: http://127.0.0.1/
  services:
    web:
      tagz: [a]
helpdesk:
  desk:
    type: zamad
    url: https://127.0.0.1/
""")
    out = vigie("config", "check", str(path))
    assert out.stderr.splitlines()[1:] == [f"{path}:{line}" for line in (
        "1: sitee: unknown key 'sitee' (did you mean 'site'?)",
        "9: services[0].checks[0].urll: unknown key 'urll' (did you mean 'url'?)",
        "10: services[0].checks[0].interval: invalid duration '5 minutes' "
        "(use e.g. 30s, 5m, 1h)",
        "14: maintenance[0].services[0]: unknown service 'wbe' (did you mean 'web'?)",
        "21: guides.sources[0].bse_url: unknown key 'bse_url' (did you mean 'base_url'?)",
        "24: guides.services.web.tagz: unknown key 'tagz' (did you mean 'tags'?)",
        "27: helpdesk.desk.type: unknown type 'zamad' (did you mean 'zammad'?)",
    )]
