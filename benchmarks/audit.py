"""What a page that floods the audit costs the auditor: the page sends 100 calls of 2 MB each.

- ``audit_python_peak_mb``: the peak resident memory of the Python process that drives the
  browser (the child process ``pixel-embed audit`` runs each URL in), its own ``ru_maxrss``.
- ``audit_chromium_peak_mb``: the peak of the summed resident memory of that child's Chromium
  processes (and Playwright's driver), sampled every 100 ms from /proc: reported apart, it is
  the browser's, and the page's own 200 MB live there.
- ``audit_flood_seconds``: how long the audit of that page took, Chromium's start included.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from flask import Flask

from pixel_embed import PixelSettings, render_pixel
from pixel_embed.audit.isolation import Job, _descendants, audit_isolated
from pixel_embed.testing import serve_app

from .size import CODE

FLOOD = (
    "var big = new Array(2 * 1024 * 1024 + 1).join('x');\n"
    "for (var i = 0; i < 100; i++) ttq.track('ViewContent', {description: big, value: i});"
)
MB = 1024 * 1024


def _app() -> Flask:
    app = Flask(__name__)
    pixel = str(render_pixel(PixelSettings((CODE,))))

    @app.get("/flood")
    def flood() -> str:
        return (
            f"<!doctype html><html><head>{pixel}<script>{FLOOD}</script></head><body></body></html>"
        )

    return app


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run(*, quick: bool = False) -> dict[str, float]:
    peak = {"browser": 0}
    done = threading.Event()
    me = __import__("os").getpid()

    def sample() -> None:
        while not done.is_set():
            children = [pid for pid in _descendants(me) if "isolation" in _cmd(pid)]
            for child in children:
                total = sum(_rss(pid) for pid in _descendants(child))
                peak["browser"] = max(peak["browser"], total)
            time.sleep(0.1)

    with serve_app(_app()) as base:
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        outcome = audit_isolated(Job(f"{base}/flood", timeout=30))
        took = time.monotonic() - started
        done.set()
        sampler.join()
    if outcome.result.failure is not None:
        raise RuntimeError(outcome.result.failure)
    return {
        "audit_python_peak_mb": outcome.peak_rss_kb * 1024 / MB,
        "audit_chromium_peak_mb": peak["browser"] / MB,
        "audit_flood_seconds": took,
    }


def _cmd(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace")
    except OSError:
        return ""
