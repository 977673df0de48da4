"""The demo shop on 127.0.0.1 in a process of its own, for the benchmarks that load it.

In its own process the shop does not compete for Python's interpreter lock with what drives it
(simulated customers, Playwright's dispatcher), as a real site would not. The process stops by
itself: when its standard input closes (the benchmark ended, or died), and after
:data:`SERVER_LIFETIME` seconds at most.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: The longest the shop's server process lives, whatever happens to the benchmark.
SERVER_LIFETIME = 900.0
_ROOT = Path(__file__).resolve().parent.parent


def serve_shop(config: str) -> None:
    """The server process: the demo shop with ``config`` (JSON) on a threaded local server;
    prints its URL, then serves until its standard input closes or the lifetime is over."""
    from demo_site import create_app
    from pixel_embed.testing import serve_app

    with serve_app(create_app(json.loads(config))) as url:
        print(url, flush=True)
        waiting = threading.Thread(target=sys.stdin.read, daemon=True)
        waiting.start()
        waiting.join(SERVER_LIFETIME)


@contextmanager
def shop_server(config: Mapping[str, Any]) -> Iterator[str]:
    """The demo shop built with ``create_app(config)``, served from a separate process.

    :returns: its base URL, e.g. ``http://127.0.0.1:53817``.
    """
    path = os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from benchmarks.shop import serve_shop; serve_shop(sys.argv[1])",
            json.dumps(dict(config)),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": path},
        text=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        url = process.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the shop's server process did not start (it said {url!r})")
        yield url
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:  # pragma: no cover - it stops by itself
            process.kill()
            process.wait(timeout=5)
        process.stdout.close()
