"""The installed ``andon`` command: the product's commands (``andon.cli``) with the tools'
registered on them (``andon demo``, ``andon up --demo``, ``andon bench`` and its kin)."""

from __future__ import annotations

from andon.cli.main import app
from andon.tools.bench import commands as bench_commands
from andon.tools.demo import commands as demo_commands

demo_commands.register(app)
bench_commands.register(app)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
