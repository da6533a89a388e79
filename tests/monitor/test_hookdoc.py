"""The hook reference in docs/ is generated from the hookspecs and must not drift."""

from pathlib import Path

from monitor import hookdoc

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_committed_hook_reference_is_up_to_date():
    committed = (DOCS / "hooks.md").read_text(encoding="utf-8")
    assert committed == hookdoc.render(), (
        "docs/hooks.md is stale: run `python -m monitor.hookdoc > docs/hooks.md`")


def test_every_hook_has_a_section():
    text = hookdoc.render()
    names = [f.__name__ for f in hookdoc.hook_functions()]
    assert "vigie_register_probes" in names
    for name in names:
        assert f"## `{name}`" in text
    assert "(undocumented)" not in text
