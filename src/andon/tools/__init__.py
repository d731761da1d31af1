"""What ships beside the product but is not part of it: the demo plants, the benchmarks, the
machine simulators and the synthetic data they feed on, and the installed ``andon`` command
(``andon.tools.cli``), which adds their commands to the product's. The top layer: nothing in
the product imports from here (ADR 0035)."""
