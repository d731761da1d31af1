"""The secret box on its own: sealing, the keyring and its file, the first format."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from andon.errors import ConflictError, InputError, NotFoundError, StoreError
from andon.runtime.secretbox import SecretBox, key_id

PURPOSE = "connection:default/erp"
SECRET = "s3cr3t-bearer-token"


def legacy_seal(key: bytes, plaintext: str, purpose: str) -> str:
    """What the first format (one raw key, ``v1:`` tokens) wrote."""
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), purpose.encode())
    return "v1:" + base64.b64encode(nonce + sealed).decode()


def test_a_sealed_value_opens_for_its_purpose_only(tmp_path: Path) -> None:
    box = SecretBox(tmp_path / "key")
    token = box.seal(SECRET, PURPOSE)
    assert SECRET not in token
    assert token.startswith(f"v2:{box.current_key()}:")
    assert box.open(token, PURPOSE) == SECRET
    with pytest.raises(StoreError, match="does not open"):
        box.open(token, "connection:other-tenant/erp")


def test_the_key_file_is_private_and_lists_keys_newest_first(tmp_path: Path) -> None:
    path = tmp_path / "key"
    box = SecretBox(path)
    first = box.current_key()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = box.add_key()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert box.key_ids() == [second, first]
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    assert [line.split()[0] for line in lines] == [second, first]
    assert SecretBox(path).current_key() == second  # another process reads the same ring


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]),  # the tag
        lambda raw: raw[:20] + bytes([raw[20] ^ 1]) + raw[21:],  # the ciphertext
        lambda raw: bytes([raw[0] ^ 1]) + raw[1:],  # the nonce
        lambda raw: raw[:10],  # cut short
    ],
)
def test_tampered_ciphertext_is_refused(tmp_path: Path, damage: object) -> None:
    box = SecretBox(tmp_path / "key")
    version, kid, payload = box.seal(SECRET, PURPOSE).split(":")
    raw = damage(base64.b64decode(payload))  # type: ignore[operator]
    with pytest.raises(StoreError, match="does not open") as refused:
        box.open(f"{version}:{kid}:{base64.b64encode(raw).decode()}", PURPOSE)
    assert SECRET not in str(refused.value)


def test_malformed_tokens_are_refused_without_showing_them(tmp_path: Path) -> None:
    box = SecretBox(tmp_path / "key")
    with pytest.raises(StoreError, match="unknown format"):
        box.open("v9:whatever", PURPOSE)
    with pytest.raises(StoreError, match="not valid base64"):
        box.open(f"v2:{box.current_key()}:not base64!", PURPOSE)
    with pytest.raises(StoreError, match="names key kdeadbeef00, which is not in the keyring"):
        box.open("v2:kdeadbeef00:AAAA", PURPOSE)


def test_old_tokens_open_after_rotation_and_new_ones_use_the_new_key(tmp_path: Path) -> None:
    box = SecretBox(tmp_path / "key")
    old_key = box.current_key()
    old_token = box.seal(SECRET, PURPOSE)
    new_key = box.add_key()
    new_token = box.seal(SECRET, PURPOSE)
    assert box.open(old_token, PURPOSE) == box.open(new_token, PURPOSE) == SECRET
    assert (box.key_of(old_token, PURPOSE), box.key_of(new_token, PURPOSE)) == (old_key, new_key)
    with pytest.raises(ConflictError, match="seals now"):
        box.remove_key(new_key)
    box.remove_key(old_key)
    assert box.key_ids() == [new_key]
    with pytest.raises(StoreError, match=f"names key {old_key}"):
        box.open(old_token, PURPOSE)
    with pytest.raises(NotFoundError):
        box.remove_key(old_key)


def test_a_box_sees_a_rotation_made_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "key"
    here, there = SecretBox(path), SecretBox(path)
    here.current_key()
    added = there.add_key()
    token = there.seal(SECRET, PURPOSE)
    assert here.open(token, PURPOSE) == SECRET  # the file changed: read again
    assert here.current_key() == added


def test_the_first_format_key_file_and_v1_tokens_still_open(tmp_path: Path) -> None:
    path = tmp_path / "key"
    legacy = AESGCM.generate_key(bit_length=256)
    path.write_bytes(legacy)
    path.chmod(0o600)
    token = legacy_seal(legacy, SECRET, PURPOSE)
    box = SecretBox(path)
    assert box.open(token, PURPOSE) == SECRET
    assert box.key_of(token, PURPOSE) == key_id(legacy) == box.current_key()
    box.add_key()  # rewrites the file in the key-list format, keeping the old key
    assert len(path.read_bytes()) > 32
    assert SecretBox(path).open(token, PURPOSE) == SECRET
    with pytest.raises(StoreError, match="does not open"):
        box.open(legacy_seal(AESGCM.generate_key(bit_length=256), SECRET, PURPOSE), PURPOSE)


def test_keys_given_in_the_environment(tmp_path: Path) -> None:
    new, old = os.urandom(32), os.urandom(32)
    setting = Path(",".join(base64.urlsafe_b64encode(k).decode() for k in (new, old)))
    box = SecretBox.configured(setting)
    assert box.from_environment and box.key_ids() == [key_id(new), key_id(old)]
    sealed_before = SecretBox(keys=[old]).seal(SECRET, PURPOSE)
    assert box.open(sealed_before, PURPOSE) == SECRET
    assert box.key_of(box.seal(SECRET, PURPOSE), PURPOSE) == key_id(new)
    with pytest.raises(InputError, match="ANDON_SECRETS_KEY"):
        box.add_key()
    assert "ANDON_SECRETS_KEY" in repr(box)
    for text in (base64.urlsafe_b64encode(k).decode() for k in (new, old)):
        assert text not in repr(box)
    assert not list(tmp_path.iterdir())  # no key file is written


def test_a_mangled_environment_key_is_an_error_not_a_new_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="32 bytes in base64"):
        SecretBox.configured(Path("c2hvcnQ="))
    assert not list(tmp_path.iterdir())
    assert SecretBox.configured(tmp_path / "file-key").path == tmp_path / "file-key"


def test_a_key_list_with_a_wrong_id_or_no_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "key"
    material = base64.b64encode(os.urandom(32)).decode()
    path.write_text(f"kwrong00000 {material}\n")
    with pytest.raises(StoreError, match="key id does not match"):
        SecretBox(path).current_key()
    path.write_text("# nothing here\n")
    with pytest.raises(StoreError, match="holds no key"):
        SecretBox(path).current_key()
    path.write_text(f"{material}\n")  # a pasted key without its id is fine
    assert SecretBox(path).current_key() == key_id(base64.b64decode(material))
