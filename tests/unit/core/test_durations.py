"""Durations in templates: compact (``1h30m``) and ISO 8601 (``PT4H``) forms."""

from __future__ import annotations

from datetime import timedelta

import pytest

from andon.core.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("250ms", timedelta(milliseconds=250)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d4h30m15s", timedelta(days=1, hours=4, minutes=30, seconds=15)),
        ("1.5h", timedelta(minutes=90)),
        ("0s", timedelta(0)),
        ("  4h  ", timedelta(hours=4)),
    ],
)
def test_compact_form(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT4H", timedelta(hours=4)),
        ("PT90S", timedelta(seconds=90)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("PT0.5S", timedelta(milliseconds=500)),
        ("P3D", timedelta(days=3)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("P2W", timedelta(weeks=2)),
        ("P1W2DT3H4M5S", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
    ],
)
def test_iso_form(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "3 days",
        "",
        "   ",
        "4",
        "h",
        "-1h",
        "1h 30m",
        "4H",
        "1y",
        "P",
        "PT",
        "P1DT",
        "pt4h",
        "P1H",
        "T4H",
        "PT4H5D",
        "4h!",
    ],
)
def test_bad_input_names_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match="bad duration") as caught:
        parse_duration(text)

    message = str(caught.value)
    assert repr(text) in message
    for form in ("'90s'", "'15m'", "'4h'", "'2d'", "'1h30m'", "'PT4H'"):
        assert form in message


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(days=1, hours=4), "1d4h"),
        (timedelta(days=10), "10d"),
        (timedelta(hours=1, seconds=1), "1h1s"),
    ],
)
def test_format_duration(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    assert parse_duration(text) == value
