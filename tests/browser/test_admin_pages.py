"""The volunteers' area in a real browser at 1280 px: tables keep their words whole and
lay out one cell under each header, and axe-core finds no serious problem."""

from __future__ import annotations

import pytest

from dashboard import create_app
from monitor.web import WebServer
from tests.dashboard.admin.conftest import (  # noqa: F401 (fixtures)
    PASSWORD,
    admin_config,
    admin_seeded,
    quick_hasher,
    seeded_template,
    store,
    volunteer,
)

pytestmark = pytest.mark.browser

TABLE_PAGES = ["/admin/incidents", "/admin/maintenance", "/admin/notices", "/admin/outbox",
               "/admin/users", "/admin/audit", "/admin/agents"]

#: words of the tables' cells laid out on more than one line (a word cut in two);
#: hyphens and slashes are places where a line may break, so they end a word here
SPLIT_WORDS = """() => {
  const found = [];
  const walker = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent.closest("td, th") || parent.closest(".visually-hidden")) continue;
    for (const match of node.textContent.matchAll(/[^\\s\\-\\u2010-\\u2014\\/,.]+/g)) {
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      const tops = new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top)));
      if (tops.size > 1) found.push(match[0]);
    }
  }
  return found;
}"""


@pytest.fixture
def signed_in(browser, admin_seeded, volunteer):
    """``(base URL, page, seeded ids)``: camille signed in, French, 1280 px wide."""
    config, store, ids = admin_seeded
    _agent_tokens(store)
    app = create_app(config, {"CHECK_INTERVAL": 0.0, "PASSWORD_HASHER": quick_hasher()},
                     store=store)
    server = WebServer(app, "127.0.0.1", 0, threads=4)
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(base + "/admin/login")
        page.get_by_label("Nom d'utilisateur").fill("camille")
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url(base + "/admin/")
        yield base, page, ids
    finally:
        context.close()
        server.stop()


def _agent_tokens(store) -> None:
    """Two remote agents' tokens, one of which has sent a batch (the agents' page)."""
    import time

    from sqlalchemy import update

    from monitor.agents.assignments import StaticAssignments
    from monitor.agents.models import AgentToken
    from monitor.agents.service import AgentOperations

    ops = AgentOperations(StaticAssignments(["lyon", "maison-alice"], {}))
    with store.write_session() as session, session.begin():
        ops.add_token(session, name="lyon-1", location="lyon")
        ops.add_token(session, name="alice", location="maison-alice")
        session.execute(update(AgentToken).where(AgentToken.name == "lyon-1").values(
            last_batch_at=time.time() - 42, buffered=1200, dropped=3,
            last_seen_address="2001:db8::7", agent_name="lyon-1"))


def test_admin_tables_never_cut_a_word(signed_in):
    base, page, _ = signed_in
    problems = {}
    for path in TABLE_PAGES:
        page.goto(base + path)
        assert page.locator("main table").count() >= 1, path
        split = page.evaluate(SPLIT_WORDS)
        if split:
            problems[path] = split
    assert not problems


#: per table of the page, per row: how many columns its cells laid out as table cells
#: span (a cell styled as a flex box drops out of the table into an anonymous box), and
#: whether they all end at the row's bottom line
ROW_CELLS = """() => Array.from(document.querySelectorAll("main table")).map(table =>
  Array.from(table.querySelectorAll("tr")).map(tr => {
    const cells = Array.from(tr.children);
    const bottom = tr.getBoundingClientRect().bottom;
    return [cells.filter(c => getComputedStyle(c).display === "table-cell")
                 .reduce((n, c) => n + c.colSpan, 0),
            cells.every(c => Math.abs(c.getBoundingClientRect().bottom - bottom) < 1)];
  }))"""


@pytest.mark.parametrize("path", ["/admin/maintenance", "/admin/notices", "/admin/users",
                                  "/admin/agents"])
def test_every_row_has_one_cell_per_column(signed_in, path):
    base, page, _ = signed_in
    page.goto(base + path)
    for rows in page.evaluate(ROW_CELLS):
        headers = rows[0][0]
        assert headers >= 3 and len(rows) > 1
        assert rows[1:] == [[headers, True]] * (len(rows) - 1), rows


def test_no_serious_accessibility_violation_in_the_admin_area(signed_in):
    from axe_playwright_python.sync_playwright import Axe

    base, page, ids = signed_in
    open_incident, resolved_incident, _ = ids
    problems = []
    for path in ("/admin/", *TABLE_PAGES, f"/admin/incidents/{open_incident}",
                 f"/admin/incidents/{resolved_incident}"):
        page.goto(base + path)
        for violation in Axe().run(page).response["violations"]:
            if violation["impact"] in ("serious", "critical"):
                targets = [n["target"] for n in violation["nodes"]][:3]
                problems.append(f"{path}: {violation['id']} ({violation['impact']}) {targets}")
    assert not problems, "\n".join(problems)
