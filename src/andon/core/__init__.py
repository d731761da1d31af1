"""The pure engine: templates, runs, facts, commands and ``advance``. No I/O, clock or eval."""
