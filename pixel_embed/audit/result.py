"""What an audit is asked to do (:class:`Step`), how long it may take, and what came of it
(:class:`AuditResult`, or :class:`AuditFailed` for a page that could not be audited).

Plain data, no browser: the command line and the isolation's child processes pass these around.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import PixelError
from .findings import Evidence, Finding

#: Seconds to wait for a page, a step or an element, unless the caller says otherwise.
DEFAULT_TIMEOUT = 15.0
#: After a page has loaded and after each step, the audit listens until the page is quiet: no
#: new ttq call for QUIET_SECONDS, no timer due, no request or script pending; at most
#: QUIET_BOUND seconds (a page that polls forever is audited as it stands then).
QUIET_SECONDS = 0.5
QUIET_BOUND = 10.0
#: The most calls an audit keeps (the probe stops sending at 500 per page); the rest are
#: counted and reported as truncated.
MAX_CALLS = 2000

StepAction = Literal["click", "fill", "accept-consent"]


class AuditFailed(PixelError):
    """The page could not be audited (unreachable, HTTP error, timeout, a step that failed)."""


def out_of_time(seconds: float, why: str) -> str:
    """The reason given for a URL that ran out of time."""
    return f"could not be audited in {max(1, round(seconds))} s: {why}"


def url_deadline(timeout: float, steps: int, wait: float) -> float:
    """The default time for one URL: the page's load, each step, and listening after each."""
    return timeout * (2 + steps) + (QUIET_BOUND + wait) * (1 + steps) + 5


@dataclass(frozen=True)
class Step:
    """One thing a visitor does on the page, in order.

    :param action: ``click``, ``fill`` (type ``text`` into the field) or ``accept-consent``
        (click the consent banner's accept button: later calls count as consented).
    :param expect: event names the step is meant to track (``--expect``): a step after which
        one of them was not sent is an error.
    """

    action: StepAction
    selector: str
    text: str = ""
    expect: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.action == "fill":
            return f"--fill {self.selector}={self.text}"
        return f"--{self.action} {self.selector}"


@dataclass(frozen=True)
class AuditResult:
    """The outcome of auditing one URL: the evidence and findings, or why there are none."""

    url: str
    evidence: Evidence | None = None
    findings: tuple[Finding, ...] = ()
    failure: str | None = None

    def count(self, severity: str) -> int:
        return sum(1 for finding in self.findings if finding.severity == severity)
