"""``/v1/egress-allow`` over HTTP: administrators add, list and remove entries; anyone
else gets 403 and nothing is stored or chained."""

from __future__ import annotations

from api_support import token_for
from fastapi.testclient import TestClient

from andon import bootstrap
from andon.api.app import create_api
from andon.governance import authz


def test_administrators_manage_the_list_and_others_are_refused(app: bootstrap.App) -> None:
    admin = app.actor()
    app.directory.create_user(admin, "olga", "Olga")
    for role in (authz.PROCESS_OWNER, authz.OPERATOR, authz.AUDITOR):
        app.directory.grant(admin, "olga", role)
    with TestClient(create_api(app)) as http:
        olga = token_for(app, "olga")
        chained = len(app.directory.admin_log(admin))  # after the token was issued
        refused = http.put("/v1/egress-allow", json={"network": "10.20.0.5"}, headers=olga)
        assert refused.status_code == 403, refused.text
        assert http.get("/v1/egress-allow", headers=olga).status_code == 403
        assert app.egress_allow.entries(admin) == []
        assert len(app.directory.admin_log(admin)) == chained

        root = token_for(app)
        added = http.put(
            "/v1/egress-allow", json={"network": "10.20.0.5", "reason": "MES"}, headers=root
        )
        assert added.status_code == 200, added.text
        assert added.json()["network"] == "10.20.0.5/32"
        listed = http.get("/v1/egress-allow", headers=root).json()
        assert [(e["network"], e["reason"]) for e in listed] == [("10.20.0.5/32", "MES")]
        bad = http.put("/v1/egress-allow", json={"network": "plant-mes"}, headers=root)
        assert bad.status_code == 422 and "'plant-mes' is not a network" in bad.text
        entry = {"network": "10.20.0.5"}
        assert http.delete("/v1/egress-allow", params=entry, headers=olga).status_code == 403
        gone = http.delete("/v1/egress-allow", params=entry, headers=root)
        assert gone.status_code == 204
        again = http.delete("/v1/egress-allow", params=entry, headers=root)
        assert again.status_code == 404
    assert app.egress_allow.entries(admin) == []
    assert app.auditor.verify("default").ok
