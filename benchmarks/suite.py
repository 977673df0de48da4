"""How long the QA engineer waits: the wall time of the demo shop's browser suite.

Runs ``pytest tests/e2e -q -p no:cacheprovider`` in a subprocess from the project's root, as a
developer would, and times it from start to exit.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUITE = "tests/e2e"
#: ``--quick`` runs one file of the suite only (a smoke run; its time is not the suite's).
QUICK_SUITE = "tests/e2e/test_shop_purchase.py"
_COUNTS = re.compile(r"(\d+) (passed|failed|error|errors|skipped)")


def run(*, quick: bool = False) -> dict[str, float]:
    """The suite's wall time in seconds, and how many of its tests passed and failed."""
    command = [sys.executable, "-m", "pytest", QUICK_SUITE if quick else SUITE, "-q"]
    command += ["-p", "no:cacheprovider"]
    start = time.perf_counter()
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - start
    summary = finished.stdout.strip().splitlines()[-1] if finished.stdout.strip() else ""
    counts = {kind: int(number) for number, kind in _COUNTS.findall(summary)}
    if finished.returncode != 0:
        print(finished.stdout[-3000:], finished.stderr[-2000:], sep="\n", file=sys.stderr)
    key = "suite_quick_seconds" if quick else "suite_seconds"
    return {
        key: seconds,
        "suite_passed": counts.get("passed", 0),
        "suite_failed": counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0),
        "suite_exit_status": finished.returncode,
    }


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:20} {value:8.1f}")
