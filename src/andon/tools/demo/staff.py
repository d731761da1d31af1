"""The demo plants' people as principals: one site per plant, two people per role and
plant (a holder and a deputy), the requesters and inspectors who start runs, an ops desk
and the supplier portal's integration account. Provisioning is idempotent, so the demo
can run again on the same database."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress

from andon.bootstrap import App
from andon.errors import ConflictError
from andon.governance import authz
from andon.governance.identity import Actor, PrincipalKind
from andon.tools.demo.data import PLANTS, Plant

OPS_DESK = "ops-desk"
SUPPLIER_PORTAL = "supplier-portal"
REQUESTER_ROLE = "REQ"


def holder_id(plant: Plant, role: str, deputy: bool = False) -> str:
    return f"{plant.short.lower()}-{role.lower()}{2 if deputy else 1}"


class Staff:
    def __init__(self, app: App) -> None:
        self.app = app
        self.admin = app.actor()
        self._actors: dict[str, Actor] = {}

    def provision(self, roles: Iterable[str]) -> None:
        wanted = sorted(set(roles))
        directory = self.app.directory
        for plant in PLANTS:
            with suppress(ConflictError):  # made by an earlier demo on this database
                directory.create_site(self.admin, plant.code, plant.code)
            for role in wanted:
                for deputy in (False, True):
                    user = holder_id(plant, role, deputy)
                    name = f"{role} {'deputy' if deputy else 'holder'} {plant.code}"
                    self._person(user, name, role, plant.code)
            for requester in plant.requesters:
                self._person(requester, requester, REQUESTER_ROLE, plant.code)
        self._person(OPS_DESK, "Operations desk", authz.OPERATOR, "")
        with suppress(ConflictError):
            directory.create_user(
                self.admin, SUPPLIER_PORTAL, "Supplier portal", kind=PrincipalKind.SERVICE
            )
        directory.grant(self.admin, SUPPLIER_PORTAL, authz.INTEGRATION)

    def actor(self, user_id: str) -> Actor:
        found = self._actors.get(user_id)
        if found is None:
            found = self._actors[user_id] = self.app.actor(user_id)
        return found

    def _person(self, user_id: str, name: str, role: str, site: str) -> None:
        directory = self.app.directory
        with suppress(ConflictError):
            directory.create_user(self.admin, user_id, name)
        directory.grant(self.admin, user_id, role, site)
