"""Passwords: scrypt hashes with a per-user salt, checked in constant time.

scrypt is memory-hard and in the standard library; parameters are stored with each hash
so they can be raised later without invalidating existing ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import cache

from andon.errors import InputError

_N, _R, _P = 2**14, 8, 1
MIN_LENGTH = 10


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise InputError(f"a password needs at least {MIN_LENGTH} characters")
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$".join(["scrypt", str(_N), str(_R), str(_P), _b64(salt), _b64(digest)])


def check_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = base64.b64decode(digest)
    actual = hashlib.scrypt(
        password.encode(),
        salt=base64.b64decode(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        dklen=len(expected),
    )
    return hmac.compare_digest(actual, expected)


def check_against_nobody(password: str) -> bool:
    """Spend what checking a real password costs, for a user that does not exist, so the
    answer's timing does not tell whether the name is known; always False."""
    check_password(password, _nobody())
    return False


@cache
def _nobody() -> str:
    return hash_password(base64.b64encode(os.urandom(24)).decode("ascii"))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
