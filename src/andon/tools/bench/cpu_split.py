"""Where a benchmark's CPU goes: run a command, sample the machine's busy share twice a
second, and add up the CPU seconds of the processes involved by role.

    python -m andon.tools.bench.cpu_split andon bench --backend postgresql --workers 2

On a 2-core machine the engine, its PostgreSQL backends and the bench driver share the
cores; this tells whether the machine was saturated (CPU-bound) and who used it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROLES = (
    ("postgres:", "postgresql backends"),
    ("andon.cli.main worker", "workers"),
    ("multiprocessing", "approver"),
    ("andon bench", "bench driver"),
)


def _busy_and_total() -> tuple[int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _role(cmdline: str) -> str | None:
    for marker, role in ROLES:
        if marker in cmdline:
            return role
    return None


def _cpu_seconds() -> dict[int, tuple[str, float]]:
    """CPU seconds so far of every process with a role, by pid."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended meanwhile
        role = _role(cmdline)
        if role is not None:
            found[int(entry.name)] = (role, (int(stat[11]) + int(stat[12])) / tick)
    return found


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    proc = subprocess.Popen(argv)
    seen: dict[int, tuple[str, float]] = {}
    shares = []
    busy, total = _busy_and_total()
    while proc.poll() is None:
        time.sleep(0.5)
        seen.update(_cpu_seconds())  # the last reading before a process ends counts
        now_busy, now_total = _busy_and_total()
        if now_total > total:
            shares.append(round(100 * (now_busy - busy) / (now_total - total)))
        busy, total = now_busy, now_total
    by_role: dict[str, float] = {}
    for role, seconds in seen.values():
        by_role[role] = by_role.get(role, 0.0) + seconds
    print("machine busy % every 0.5 s:", " ".join(map(str, shares)))
    print("CPU seconds by role:", ", ".join(f"{r} {s:.1f}" for r, s in sorted(by_role.items())))
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
