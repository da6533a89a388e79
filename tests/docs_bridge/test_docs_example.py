"""The complete example of docs/bridges.md is a valid configuration."""

from __future__ import annotations

import re
from pathlib import Path

from monitor.config_loader import load_config
from monitor.plugins import ProbeRegistry, build_plugin_manager, config_sections

DOC = Path(__file__).parents[2] / "docs" / "bridges.md"


def test_the_documented_example_loads(tmp_path, monkeypatch):
    text = DOC.read_text(encoding="utf-8")
    example = re.search(r"## A complete example.*?```yaml\n(.*?)```", text, re.DOTALL).group(1)
    for name in set(re.findall(r"/etc/vigie/([\w-]+)", example)):
        (tmp_path / name).write_text("secret-from-a-file\n", encoding="utf-8")
    example = example.replace("/etc/vigie/", f"{tmp_path}/")
    monkeypatch.setenv("BOOKSTACK_TOKEN_SECRET", "bookstack-secret")
    monkeypatch.setenv("DISCOURSE_API_KEY", "discourse-key")
    path = tmp_path / "vigie.yaml"
    path.write_text(example, encoding="utf-8")
    pm = build_plugin_manager()
    config = load_config(path, ProbeRegistry.from_plugin_manager(pm), config_sections(pm))
    guides, forum, helpdesk = (config.sections[k] for k in ("guides", "forum", "helpdesk"))
    assert guides.sources[0].token_secret.get_secret_value() == "bookstack-secret"
    assert guides.services["nextcloud"].guides == ["doc:42"]
    assert forum.api_key.get_secret_value() == "discourse-key" and forum.category == 12
    assert helpdesk.desk.type == "zammad" and helpdesk.desk.requests_group == "Accueil"
    assert (forum.suggestions, forum.suggestions_timeout, helpdesk.language) == (3, 2.0, "fr")
    assert helpdesk.desk.token.get_secret_value() == "secret-from-a-file"
