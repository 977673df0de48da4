"""Rules about the visitor's steps (``--click``, ``--fill``): a step meant to track that sent
nothing, or not what it was meant to."""

from __future__ import annotations

from collections.abc import Iterator

from ...browser.wire import wire_name
from .evidence import Evidence, Finding


def step_results(evidence: Evidence) -> Iterator[Finding]:
    """A step with ``--expect`` must send each event it names; a click that made no pixel call
    at all is worth knowing even without one (a handler never bound, an error before it)."""
    for number, report in enumerate(evidence.steps, 1):
        where = f"step {number} ({report.step})"
        sent = {evidence.call(n).event for n in report.calls} - {None}
        if report.expect:
            missing = [
                name
                for name in report.expect
                if name not in sent and wire_name(name) not in {wire_name(s or "") for s in sent}
            ]
            if not report.calls:
                yield Finding(
                    "step-tracked-nothing",
                    "error",
                    f"{where} was meant to track {', '.join(report.expect)} but made no pixel "
                    "call at all: its handler never ran (not bound, or an error before it; see "
                    "any pixel-js-error)",
                )
            elif missing:
                got = ", ".join(sorted(str(s) for s in sent)) or "no event"
                yield Finding(
                    "step-missed-event",
                    "error",
                    f"{where} was meant to track {', '.join(missing)} but sent {got}",
                    report.calls[0],
                )
        elif not report.calls and report.action == "click":
            yield Finding(
                "step-no-call",
                "info",
                f"{where} made no pixel call (if it should track, say so with --expect EVENT "
                "after it)",
            )
