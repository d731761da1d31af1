"""The template diff page (FastAPI's test client over SQLite, no browser): what changed in
meaning is listed above the lines of the source, linked from the template page."""

from __future__ import annotations

import re

import ui_world
from fastapi.testclient import TestClient
from test_ui_routes import login
from ui_world import PASSWORD, World

from andon.governance import authz


def test_the_diff_page_lists_the_changes_in_meaning(client: TestClient, world: World) -> None:
    app = world.app
    admin = app.actor()
    app.directory.create_user(admin, "u-po", "Pia Owner", password=PASSWORD)
    app.directory.grant(admin, "u-po", authz.PROCESS_OWNER)
    source = (ui_world.ROOT / "templates" / "supplier-ncr.yaml").read_text()
    v2 = (
        source.replace("version: 1", "version: 2")
        .replace("due_in: 5d", "due_in: 4d")
        .replace("then: {roles: [QE], band: low}}", "then: {roles: [QE, PS], band: low}}")
        .replace(
            "  - id: rejected\n    kind: end\n", "  - id: rejected\n    kind: end\n    # <b>\n"
        )
    )
    app.service.publish_template(app.actor("u-po"), v2, "v2")
    login(client, "u-po")
    page = client.get("/ui/templates/supplier-ncr").text
    assert 'action="/ui/templates/supplier-ncr/diff"' in page
    diff = client.get("/ui/templates/supplier-ncr/diff", params={"from": 1, "to": 2}).text
    changes = diff[diff.index('id="changes-h"') : diff.index('id="source-h"')]
    assert re.search(r'<li class="c-changed"><strong>review_scar</strong> '
                     r'<span class="hint">\(approval\)</span>', changes)  # fmt: skip
    assert '<dt>due_in <span class="hint">[sla]</span></dt><dd><del>5d</del> → <ins>4d</ins>' in (
        changes
    )
    assert "<p>Decision rows</p>" in changes and "<strong>scrap-low</strong>" in changes
    assert "&#34;QE&#34;, &#34;PS&#34;" in changes  # the new row result, escaped
    # DE-STR has an overlay but sets no changed parameter: no plant entry
    assert "Parameters per plant" not in changes
    # the comment-only edit shows in the source lines, not in the changes
    assert "rejected" not in changes and "<ins>+    # &lt;b&gt;</ins>" in diff
    same = client.get("/ui/templates/supplier-ncr/diff", params={"from": 2, "to": 2}).text
    assert "No change in meaning" in same
    missing = client.get("/ui/templates/supplier-ncr/diff", params={"from": 1, "to": 9})
    assert missing.status_code == 404 and "supplier-ncr@9" in missing.text
