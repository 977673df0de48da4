"""Benchmarks: plain scripts, each a ``run() -> dict[str, float]`` and a ``__main__`` block."""
