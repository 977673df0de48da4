"""The audit with TikTok's real SDK (``pixel-embed audit URL --sdk DIR``): what TikTok would
receive, event by event, with TikTok's own diagnostics of each beacon, and findings from them.

A local, scriptable counterpart of TikTok's Web Diagnostics: the SDK is served from a local
copy and every beacon is answered on this machine, never sent.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..browser.recorder import install_recorder
from ..browser.sdk import require_sdk_dir
from ..browser.wire import WireEvent, format_wire, wire_name
from .findings import Finding, find_problems
from .network import Resolver, resolve
from .result import DEFAULT_TIMEOUT, AuditFailed, AuditResult, Step
from .runner import gather_evidence

if TYPE_CHECKING:
    from playwright.sync_api import Browser

_FIELD_NAMES = {"email": "e-mail", "phone_number": "phone number"}
_FIELD_CODES = {"email": "email", "phone_number": "phone"}
# TikTok's labels of raw values its SDK collected by itself from the page's forms.
_AUTO_LABELS = {"raw_auto_email": "an e-mail address", "raw_auto_phone": "a phone number"}


@dataclass(frozen=True)
class WireAudit:
    """One URL audited with the real SDK: the usual audit (whose findings include the wire's),
    the beacons TikTok would have received, in order, and the findings read from them."""

    result: AuditResult
    beacons: tuple[WireEvent, ...] = ()
    findings: tuple[Finding, ...] = ()

    @property
    def events(self) -> list[WireEvent]:
        return [beacon for beacon in self.beacons if beacon.is_event]


def _numbered(events: Sequence[WireEvent], numbers: Sequence[int]) -> str:
    shown = ", ".join(f"#{n} {events[n - 1].event}" for n in numbers[:5])
    more = f" and {len(numbers) - 5} more" if len(numbers) > 5 else ""
    return f"{'beacon' if len(numbers) == 1 else 'beacons'} {shown}{more}"


def _grouped(
    events: Sequence[WireEvent], wanted: Iterable[tuple[str, str, WireEvent]]
) -> dict[tuple[str, str], list[int]]:
    groups: dict[tuple[str, str], list[int]] = {}
    index = {id(event): number for number, event in enumerate(events, 1)}
    for name, grade, event in wanted:
        groups.setdefault((name, grade), []).append(index[id(event)])
    return groups


def wire_findings(
    beacons: Sequence[WireEvent], tracked: Sequence[str] = (), url: str | None = None
) -> list[Finding]:
    """Findings from what TikTok received: plain or invalid identity values (TikTok's own
    grading), raw values the SDK collected from the page, Limited Data Use, and events the page
    tracked that never went out.

    :param tracked: the event names the page passed to ``ttq.track``, in order.
    """
    events = [beacon for beacon in beacons if beacon.is_event]
    found: list[Finding] = []
    grades = _grouped(
        events,
        ((name, grade, event) for event in events for name, grade in event.identity.items()),
    )
    for (name, grade), numbers in grades.items():
        field = _FIELD_NAMES.get(name, name)
        where = _numbered(events, numbers)
        if grade == "plain":
            found.append(
                Finding(
                    f"wire-plain-{_FIELD_CODES.get(name, name)}",
                    "error",
                    f"TikTok received a plain {field} ({where}): its SDK hashed it in the "
                    "browser; hash it on the server (pixel.identify does)",
                    url=url,
                )
            )
        elif grade == "invalid":
            found.append(
                Finding(
                    f"wire-invalid-{_FIELD_CODES.get(name, name)}",
                    "warning",
                    f"TikTok flagged the {field} as invalid ({where}): it cannot be matched",
                    url=url,
                )
            )
    auto = _grouped(
        events,
        (
            (label, "valid", event)
            for event in events
            for label in _AUTO_LABELS
            if event.signal_labels.get(label) == "valid"
        ),
    )
    for (label, _), numbers in auto.items():
        found.append(
            Finding(
                "wire-auto-collected",
                "warning",
                f"TikTok's SDK collected {_AUTO_LABELS[label]} from the page by itself "
                f"({_numbered(events, numbers)}): turn automatic advanced matching off in "
                "Events Manager if visitors did not agree to it",
                url=url,
            )
        )
    sent = {event.event for event in events}
    for name in dict.fromkeys(tracked):
        if wire_name(name) not in sent:
            found.append(
                Finding(
                    "wire-not-sent",
                    "warning",
                    f"ttq.track({name!r}) never reached TikTok"
                    + (
                        f" (it would be sent as {wire_name(name)!r})"
                        if wire_name(name) != name
                        else ""
                    )
                    + ": consent held or refused, or the SDK dropped it",
                    url=url,
                )
            )
    if any(event.limited_data_use for event in events):
        found.append(
            Finding("wire-ldu", "info", "Limited Data Use is on in what TikTok received", url=url)
        )
    if not events:
        found.append(
            Finding("wire-nothing", "info", "TikTok received no event from this visit", url=url)
        )
    return found


def audit_with_sdk(
    browser: Browser,
    url: str,
    steps: Sequence[Step] = (),
    *,
    sdk_dir: str | os.PathLike[str],
    timeout: float = DEFAULT_TIMEOUT,
    allow_hosts: Iterable[str] = (),
    wait: float = 0.0,
    deadline: float | None = None,
    resolver: Resolver = resolve,
) -> WireAudit:
    """Audit ``url`` as :func:`~pixel_embed.audit.runner.audit` does, with TikTok's own SDK
    served from ``sdk_dir``, and read what TikTok would have received.

    :raises SdkNotFound: ``sdk_dir`` holds no copy of the SDK.
    """
    root = require_sdk_dir(sdk_dir)
    context = browser.new_context()
    recorder = install_recorder(context, sdk="real", sdk_dir=root)
    try:
        evidence = gather_evidence(
            browser,
            url,
            steps,
            timeout=timeout,
            allow_hosts=allow_hosts,
            wait=wait,
            context=context,
            deadline=deadline,
            resolver=resolver,
        )
    except AuditFailed as exc:
        context.close()
        return WireAudit(AuditResult(url, failure=str(exc)))
    tracked = [call.event for call in evidence.calls if call.event]
    beacons = tuple(recorder.beacons)
    on_wire = tuple(wire_findings(beacons, tracked, url))
    result = AuditResult(url, evidence, (*find_problems(evidence), *on_wire))
    return WireAudit(result, beacons, on_wire)


def _numbers(numbers: Sequence[int]) -> str:
    return ", ".join(f"#{number}" for number in numbers)


def _labels(event: WireEvent) -> str:
    return " ".join(
        f"{name}={label}" for name, label in event.signal_labels.items() if label != "missing"
    )


def format_wire_audit(audited: WireAudit) -> str:
    """What TikTok would receive, as lines for people: the event beacons, then TikTok's labels
    of each (the findings read from them are listed with the audit's)."""
    if audited.result.failure is not None:
        return ""
    lines = ["  what TikTok would receive (its real SDK, answered locally):"]
    lines.append("\n".join("  " + line for line in format_wire(audited.beacons).split("\n")))
    by_labels: dict[str, list[int]] = {}
    for number, event in enumerate(audited.events, 1):
        labels = _labels(event)
        if labels:
            by_labels.setdefault(labels, []).append(number)
    for labels, numbers in by_labels.items():
        which = "every beacon" if len(numbers) == len(audited.events) else _numbers(numbers)
        lines.append(f"    TikTok's labels ({which}): {labels}")
    return "\n".join(lines)


def wire_json(audited: WireAudit) -> dict[str, Any]:
    """The ``wire`` entry of a URL's JSON result."""
    return {
        "events": [
            {
                "number": number,
                "endpoint": event.endpoint,
                "pixel": event.pixel,
                "event": event.event,
                "event_id": event.event_id,
                "properties": event.properties,
                "user": event.user,
                "identity": event.identity,
                "identity_params": event.identity_params,
                "signal_labels": event.signal_labels,
                "limited_data_use": event.limited_data_use,
            }
            for number, event in enumerate(audited.events, 1)
        ],
        "beacons": len(audited.beacons),
        "findings": [finding.to_dict() for finding in audited.findings],
    }
