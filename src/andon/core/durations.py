"""Parse the duration notations templates use: ``90s``, ``1h30m``, ``2d`` and ISO 8601 ``PT4H``."""

from __future__ import annotations

import re
from datetime import timedelta

_COMPACT = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_COMPACT_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")
_ISO = re.compile(
    r"P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?"
)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """Return the duration ``text`` denotes; raise ValueError naming the accepted forms."""
    value = text.strip()
    if _COMPACT_WHOLE.fullmatch(value):
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _COMPACT.findall(value))
        return timedelta(seconds=seconds)
    iso = _ISO.fullmatch(value)
    if iso and value not in ("P", "PT") and not value.endswith("T"):
        parts = {k: float(v) for k, v in iso.groupdict().items() if v}
        return timedelta(
            weeks=parts.get("w", 0),
            days=parts.get("d", 0),
            hours=parts.get("h", 0),
            minutes=parts.get("m", 0),
            seconds=parts.get("s", 0),
        )
    raise ValueError(f"bad duration {text!r}: use e.g. '90s', '15m', '4h', '2d', '1h30m' or 'PT4H'")


def format_duration(value: timedelta) -> str:
    """Compact, human form of ``value`` (``1d4h``, ``90s`` -> ``1m30s``)."""
    total = int(value.total_seconds())
    if total == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)
