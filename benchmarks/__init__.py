"""Benchmarks: each ``bench_*.py`` module prints ``name value unit`` lines and a ``peer:`` line."""
