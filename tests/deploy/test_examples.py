"""Every configuration in deploy/examples/ passes `vigie config check` and shows what the
issue asks an example cooperative configuration to show."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from monitor.cli import cli
from monitor.config_loader import load_config
from monitor.plugins import ProbeRegistry, build_plugin_manager, config_sections
from tests.deploy.conftest import DEPLOY

EXAMPLES = DEPLOY / "examples"
ENV_EXAMPLE = DEPLOY / "systemd" / "vigie.env.example"
COOPERATIVE = EXAMPLES / "cooperative.yaml"


def env_example() -> dict[str, str]:
    """The placeholder secrets, read the way systemd's EnvironmentFile= reads them."""
    env = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = shlex.split(value)[0] if value.strip() else ""
    return env


def example_files() -> list[Path]:
    return sorted(p for p in EXAMPLES.iterdir() if p.is_file())


def test_examples_folder_holds_configurations_only():
    files = example_files()
    assert COOPERATIVE in files
    assert all(p.suffix == ".yaml" for p in files), "deploy/examples/ holds configurations only"


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_example_passes_vigie_config_check(path):
    result = CliRunner().invoke(cli, ["config", "check", str(path)], env=env_example())
    assert result.exit_code == 0, result.output
    assert f"{path}: OK (" in result.output


def test_secrets_come_from_the_environment():
    """Without vigie.env the check fails on the missing variables: no secret is inline."""
    result = CliRunner().invoke(cli, ["config", "check", str(COOPERATIVE)],
                                env={name: None for name in env_example()})
    assert result.exit_code == 3
    assert "environment variable VIGIE_DB_PASSWORD is not set" in result.output
    used = set(re.findall(r"\$\{(VIGIE_[A-Z0-9_]+)", COOPERATIVE.read_text(encoding="utf-8")))
    assert used == set(env_example()), "vigie.env.example and cooperative.yaml disagree"


@pytest.fixture(scope="module")
def cooperative():
    """The example, loaded with every plugin's sections."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env_example().items():
            mp.setenv(name, value)
        pm = build_plugin_manager()
        registry = ProbeRegistry.from_plugin_manager(pm)
        return load_config(COOPERATIVE, registry, config_sections(pm))


def test_cooperative_covers_the_reference_cooperative(cooperative):
    kinds = {check.ref.kind for check in cooperative.checks}
    assert {"http", "php_fpm", "mysql", "postgresql", "smtp", "imap", "sympa", "nextcloud",
            "tls", "dns", "heartbeat", "nagios"} <= kinds
    services = {s.id for s in cooperative.services}
    assert {"sites-web", "mysql", "postgresql", "messagerie", "listes", "nextcloud",
            "espace-membre", "guides", "forum", "assistance"} <= services
    web = cooperative.service("sites-web")
    urls = {c.options.url for c in web.checks if c.ref.kind == "http"}
    assert any(u.endswith(".html") for u in urls) and any(u.endswith(".php") for u in urls)
    assert cooperative.file.maintenance, "maintenance windows"
    assert cooperative.file.store.url.startswith("postgresql")


def test_cooperative_plugin_sections(cooperative):
    sections = cooperative.sections
    assert sections["deadman"] is not None
    assert sections["guides"].sources[0].type == "bookstack"
    assert sections["forum"].url == "https://forum.example.coop"
    assert sections["helpdesk"].desk.type == "zammad"
    schemes = {r.url.get_secret_value().split("://")[0] for r in sections["notifications"].urls}
    assert {"mailtos", "matrixs"} <= schemes


def test_cooperative_is_annotated():
    """Each top-level section is introduced by a comment (the file teaches as it goes)."""
    lines = COOPERATIVE.read_text(encoding="utf-8").splitlines()
    top = [i for i, line in enumerate(lines) if re.match(r"^[a-z_]+:", line)]
    silent = [lines[i] for i in top
              if not any(lines[j].startswith("#") for j in range(max(0, i - 6), i))
              and not any("#" in lines[j] for j in range(i, min(len(lines), i + 4)))]
    assert silent == []
    data = yaml.safe_load(COOPERATIVE.read_text(encoding="utf-8"))
    assert {"site", "store", "server", "deadman", "services", "maintenance",
            "notifications", "guides", "forum", "helpdesk"} <= set(data)


def nginx_forwarded_headers() -> set[str]:
    """The X-Forwarded-* headers the nginx sample sends to Vigie (lower case)."""
    text = (DEPLOY / "nginx" / "vigie.conf").read_text(encoding="utf-8")
    return {h.lower() for h in re.findall(r"proxy_set_header\s+(X-Forwarded-[A-Za-z]+)", text)}


def test_cooperative_trusts_the_nginx_sample_and_keeps_cookies_on_https(cooperative):
    """Behind deploy/nginx/vigie.conf (nginx on the same machine, 127.0.0.1), Vigie must
    believe its headers — visitors' addresses for the login limit, https for the cookie —
    and send the volunteers' cookie over HTTPS only."""
    server = cooperative.file.server
    assert server.host == "127.0.0.1"
    assert server.trusted_proxy == "127.0.0.1"
    assert set(server.trusted_proxy_headers) == nginx_forwarded_headers()
    assert cooperative.sections["dashboard"].secure_cookies is True
    upstream = re.search(r"upstream vigie \{\s*server ([\d.:]+);",
                         (DEPLOY / "nginx" / "vigie.conf").read_text(encoding="utf-8"))
    assert upstream.group(1) == server.listen


def test_container_configuration_trusts_the_proxy_and_keeps_cookies_on_https():
    data = yaml.safe_load((DEPLOY / "container" / "vigie.yaml").read_text(encoding="utf-8"))
    assert data["server"]["trusted_proxy"] == "*"
    assert data["dashboard"]["secure_cookies"] is True
    compose = yaml.safe_load((DEPLOY / "container" / "compose.yaml").read_text(encoding="utf-8"))
    # trusting every peer is only right while the port is published on loopback only
    assert all(p.startswith("127.0.0.1:") for p in compose["services"]["vigie"]["ports"])


def test_the_nginx_sample_takes_the_agents_largest_batch():
    """Agents push through the proxy: its body limit at /api/agent/v1/ is at least
    ``agents.max_batch_bytes`` (1 MiB by default), else nginx refuses what Vigie takes."""
    from monitor.agents.settings import AgentSettings

    text = (DEPLOY / "nginx" / "vigie.conf").read_text(encoding="utf-8")
    block = re.search(r"location /api/agent/v1/ \{(.*?)\}", text, re.DOTALL)
    assert block is not None
    size = re.search(r"client_max_body_size (\d+)m;", block.group(1))
    assert size is not None
    assert int(size.group(1)) * 2**20 >= AgentSettings().max_batch_bytes
