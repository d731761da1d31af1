"""People for integration tests: created through the directory, as an admin would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from andon import bootstrap
from andon.governance.identity import Actor, PrincipalKind
from andon.runtime.directory import DEFAULT_TENANT
from andon.store.transaction import SqlReader

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def person(
    app: bootstrap.App,
    user_id: str,
    *roles: str,
    tenant: str = DEFAULT_TENANT,
    kind: PrincipalKind = PrincipalKind.PERSON,
    password: str | None = None,
) -> Actor:
    """``user_id`` with tenant-wide ``roles`` (``ROLE@SITE`` for one site), made if new."""
    admin = app.actor("admin" if tenant == DEFAULT_TENANT else f"admin@{tenant}", tenant)
    with app.service.store.transaction() as tx:
        exists = tx.user(user_id) is not None
    if not exists:
        app.directory.create_user(admin, user_id, user_id.upper(), kind=kind, password=password)
    for value in roles:
        role, _, site = value.partition("@")
        if site:
            with app.service.store.transaction() as tx:
                known = tx.scoped(tenant).site_exists(site)
            if not known:
                app.directory.create_site(admin, site, site)
        app.directory.grant(admin, user_id, role, site)
    return app.actor(user_id, tenant)


@contextmanager
def tenant_reader(app: bootstrap.App, tenant: str = DEFAULT_TENANT) -> Iterator[SqlReader]:
    with app.service.store.reader() as reader:
        yield reader.scoped(tenant)
