"""A bench's figures as a two-column rich table (floats with thousands separators)."""

from __future__ import annotations

from rich.table import Table

from andon.core.json import JsonValue


def table(title: str, result: dict[str, JsonValue]) -> Table:
    out = Table(title=title, title_justify="left")
    out.add_column("measure")
    out.add_column("value", justify="right")
    for key, value in result.items():
        out.add_row(key, f"{value:,.2f}" if isinstance(value, float) else str(value))
    return out
