"""Key rotation over a real database: every sealed value of every tenant sealed again in
one transaction, old keys retired only once nothing uses them, the first format upgraded."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from andon import bootstrap
from andon.errors import ConflictError, NotFoundError, StoreError
from andon.runtime.clock import ManualClock
from andon.runtime.hooks import EventMapping
from andon.testing import tenant_reader
from andon.webhooks import signing
from backends import rows, settings_for, tamper

B = "acme-b"
TOKEN = "tok-rotate-9e2b-never-logged"
HOOK_SECRET = "whsec_" + base64.b64encode(b"portal secret of 32 bytes length").decode()
SUB_SECRET = "whsec_" + base64.b64encode(b"subscription secret, 32 bytes!!!").decode()
SECRETS = (TOKEN, "pw-b-mail", HOOK_SECRET, SUB_SECRET)


@pytest.fixture
def world(backend: str, tmp_path: Path, clock: ManualClock) -> Iterator[bootstrap.App]:
    """Sealed values of every kind, in two tenants."""
    with settings_for(backend, tmp_path, webhook_allow=("127.0.0.0/8",)) as settings:
        app = bootstrap.build(settings, clock=clock)
        admin = app.actor()
        erp = {"url": "https://erp.example", "auth": "bearer"}
        app.connections.set_connection(admin, "erp", "http", erp, TOKEN)
        app.hooks.add_source(
            admin, "portal", scheme=signing.STANDARD, secret=HOOK_SECRET,
            mapping=EventMapping(type="'x.y'", key="event.k"), acting_user="admin",
        )  # fmt: skip
        app.notifier.subscribe(admin, "http://127.0.0.1:9/hook", ["*"], SUB_SECRET)
        app.directory.create_tenant(B, "Other")
        mail = {"host": "mx", "from": "a@b.example", "username": "andon"}
        app.connections.set_connection(
            app.actor(f"admin@{B}", B), "mail", "smtp", mail, "pw-b-mail"
        )
        yield app
        app.close()


def sealed(app: bootstrap.App) -> list[str]:
    return [
        r[0]
        for r in rows(app, "SELECT secrets FROM connections")
        + rows(app, "SELECT secrets FROM webhook_sources")
        + rows(app, "SELECT secret FROM webhook_subscriptions")
    ]


def everything_opens(app: bootstrap.App) -> None:
    erp = app.connections.resolve("default", "erp").secret
    mail = app.connections.resolve(B, "mail").secret
    assert erp is not None and erp.reveal() == TOKEN
    assert mail is not None and mail.reveal() == "pw-b-mail"
    body = json.dumps({"k": "K1"}).encode()
    stamp = int(app.service.clock.now().timestamp())
    headers = {
        "webhook-id": f"m-{stamp}-{len(body)}-{os.urandom(4).hex()}",
        "webhook-timestamp": str(stamp),
    }
    headers["webhook-signature"] = signing.sign_standard(
        HOOK_SECRET, headers["webhook-id"], stamp, body
    )
    app.hooks.receive("default", "portal", headers, body)  # verifies with the opened secret
    ((sub_id,),) = rows(app, "SELECT subscription_id FROM webhook_subscriptions")
    ((token,),) = rows(app, "SELECT secret FROM webhook_subscriptions")
    opened = app.secret_keys.box.open(token, f"webhook-subscription:default/{sub_id}")
    assert opened == SUB_SECRET


def test_rotation_reseals_everything_and_retiring_waits_until_nothing_uses_the_key(
    world: bootstrap.App,
) -> None:
    keys = world.secret_keys
    first = keys.box.current_key()
    assert keys.usage() == {first: 4}
    with pytest.raises(ConflictError, match="seals now"):
        keys.retire(first)
    before = sealed(world)
    ((old_erp,),) = rows(world, "SELECT secrets FROM connections WHERE name = 'erp'")

    rotation = keys.rotate()
    second = rotation.key_id
    assert rotation.added and second != first and rotation.older == (first,)
    assert rotation.resealed == {"connections": 2, "webhook_sources": 1, "webhook_subscriptions": 1}
    after = sealed(world)
    assert all(t.startswith(f"v2:{second}:") for t in after)
    assert set(after).isdisjoint(before)
    assert keys.usage() == {second: 4, first: 0}
    everything_opens(world)

    # A value sealed with the old key (say, by a process that had not seen the rotation)
    # keeps the old key in use: retiring it is refused until the next rotation.
    tamper(world, "UPDATE connections SET secrets = :old WHERE name = 'erp'", {"old": old_erp})
    with pytest.raises(ConflictError, match=f"key {first} still seals 1 value"):
        keys.retire(first)
    everything_opens(world)
    third = keys.rotate().key_id
    assert keys.retire(first) and keys.retire(second)
    assert keys.box.key_ids() == [third]
    everything_opens(world)
    with pytest.raises(NotFoundError):
        keys.retire(first)
    with pytest.raises(StoreError, match=f"names key {first}"):
        keys.box.open(old_erp, "connection:default/erp")


def test_rotation_is_chained_per_tenant_without_any_secret(world: bootstrap.App) -> None:
    rotation = world.secret_keys.rotate()
    world.secret_keys.retire(rotation.older[0])
    with tenant_reader(world) as reader:
        mine = [(a.action, a.body) for a in reader.admin_log() if a.actor == "installation"]
    with tenant_reader(world, B) as reader:
        theirs = [(a.action, a.body) for a in reader.admin_log() if a.actor == "installation"]
    key = rotation.key_id
    assert ("secrets.resealed", {"key": key, "values": 3}) in mine
    assert ("secrets_key.added", {"key": key}) in mine
    assert ("secrets_key.retired", {"key": rotation.older[0]}) in mine
    assert ("secrets.resealed", {"key": key, "values": 1}) in theirs
    logged = json.dumps([list(map(str, r)) for r in rows(world, "SELECT * FROM admin_log")])
    assert not any(secret in logged for secret in SECRETS)
    assert world.auditor.verify().ok


def test_a_value_that_does_not_open_stops_the_rotation_and_changes_nothing(
    world: bootstrap.App,
) -> None:
    tamper(world, "UPDATE webhook_subscriptions SET secret = 'v2:kforged0000:AAAA'", {})
    before = sealed(world)
    with pytest.raises(StoreError, match="webhook_subscriptions row webhook-subscription:default/"):
        world.secret_keys.rotate()
    assert sealed(world) == before  # one transaction: nothing was sealed again


def test_the_first_format_opens_and_is_upgraded_by_a_rotation(
    backend: str, tmp_path: Path, clock: ManualClock
) -> None:
    legacy = AESGCM.generate_key(bit_length=256)
    (tmp_path / "secrets-key").write_bytes(legacy)
    with settings_for(backend, tmp_path) as settings:
        app = bootstrap.build(settings, clock=clock)
        try:
            app.connections.set_connection(
                app.actor(), "erp", "http", {"url": "https://erp.example", "auth": "bearer"}, TOKEN
            )
            nonce = os.urandom(12)
            secret = json.dumps({"secret": TOKEN}).encode()
            ciphertext = AESGCM(legacy).encrypt(nonce, secret, b"connection:default/erp")
            old = "v1:" + base64.b64encode(nonce + ciphertext).decode()
            tamper(app, "UPDATE connections SET secrets = :old", {"old": old})
            found = app.connections.resolve("default", "erp").secret
            assert found is not None and found.reveal() == TOKEN
            legacy_id = app.secret_keys.box.current_key()
            assert app.secret_keys.usage() == {legacy_id: 1}
            rotation = app.secret_keys.rotate()
            assert rotation.older == (legacy_id,)
            assert app.secret_keys.retire(legacy_id)
            again = app.connections.resolve("default", "erp").secret
            assert again is not None and again.reveal() == TOKEN
        finally:
            app.close()
