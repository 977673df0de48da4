"""Rules about what the audit did not see whole or did not let through: calls it cut, and the
page's requests to the auditor's machine or private network."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

from .evidence import Evidence, Finding


def truncated(evidence: Evidence) -> Iterator[Finding]:
    """The audit kept a bounded copy of what the page sent: say what it cut."""
    cut = evidence.truncated
    parts = []
    if cut.dropped_calls:
        parts.append(f"{cut.dropped_calls} call(s) over the audit's cap were not recorded")
    if cut.cut_calls:
        parts.append(
            f"{cut.cut_calls} call(s) had arguments cut (nested too deep, or too long: such "
            "calls are far bigger than anything TikTok reads)"
        )
    if cut.cut_scripts:
        parts.append(f"{cut.cut_scripts} inline script(s) were too long or too many to read whole")
    if parts:
        yield Finding("truncated", "info", "the report is truncated: " + "; ".join(parts))


def private_network(evidence: Evidence) -> Iterator[Finding]:
    """A public page asked for addresses on the auditor's machine or private network (a
    leftover ``localhost`` URL from development, or a page probing the visitor's network)."""
    if not evidence.private:
        return
    shown = sorted(
        {f"{urlsplit(url).hostname or url} ({address})" for url, address in evidence.private}
    )
    more = f" and {len(shown) - 5} more" if len(shown) > 5 else ""
    yield Finding(
        "private-network-request",
        "warning",
        f"the page tried {len(evidence.private)} request(s) to private or local addresses, "
        f"which the audit refused: {', '.join(shown[:5])}{more}; a public page should not "
        "address its visitors' own networks (a development URL left in?)",
        url=evidence.url,
    )
