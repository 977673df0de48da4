"""A helper for testing the durable outbox: its write lock held by another process."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

_HOLD_LOCK = (
    "import sqlite3, sys\n"
    "connection = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "connection.execute('BEGIN IMMEDIATE')\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"
)


@contextlib.contextmanager
def outbox_locked(path: str) -> Iterator[None]:
    """Hold the outbox file's write lock from another process (as a long ``events purge``, a
    backup or a stuck worker would) until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if holder.stdout is None or holder.stdout.readline().strip() != "locked":
            raise RuntimeError(f"could not lock the outbox {path!r} from another process")
        yield
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        try:
            holder.wait(timeout=10)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
