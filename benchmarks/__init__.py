"""Benchmarks and load tests: ``python -m benchmarks`` (``make bench``) runs them all.

One module per part, each with a ``run(*, quick=False) -> dict[str, float]`` and a
``__main__`` block: ``size``, ``server``, ``events_api``, ``isolation``, ``pageload``, ``sdk``
(TikTok's real SDK: what it costs visitors and what each load strategy loses in events),
``suite``. ``timing`` holds the side-by-side sampling they share; ``shop`` serves the demo shop
from a process of its own; ``sdk_host`` serves TikTok's SDK copy over local HTTPS.
"""
