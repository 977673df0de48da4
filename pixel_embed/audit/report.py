"""An audit's results for people (a table of calls, then the findings) and for programs (JSON).

The JSON document is versioned by its ``"schema"`` key; a change that could break a reader
gets a new version. See the README ("Auditing a page from the command line") for its fields.

Everything that comes from the audited pages is untrusted: in both outputs personal data is
masked, and in the text output every control character is escaped (see :mod:`.redact`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from ..browser.calls import RecordedCall, format_calls
from .findings import SEVERITIES, Evidence, Finding, PageFacts, StepReport
from .redact import (
    escape_controls,
    escape_report,
    json_safe,
    mask_data,
    mask_identity_value,
    mask_text,
    safe_text,
)
from .result import AuditResult

#: Version 2: ``calls[].url`` is the URL at the time of the call (it was the page's last URL),
#: every field that comes from the page is masked (``pixel``, ``method``, ``event`` and
#: ``sdk_loads`` were not), and ``truncated``, ``private`` and ``steps`` are new.
SCHEMA = "pixel-embed-audit/2"

#: Exit statuses: no error; at least one error; a page could not be audited.
EXIT_OK, EXIT_ERRORS, EXIT_NOT_AUDITED = 0, 1, 2


def exit_status(results: Sequence[AuditResult]) -> int:
    """2 when a page could not be audited, else 1 when a finding is an error, else 0."""
    if any(result.failure is not None for result in results):
        return EXIT_NOT_AUDITED
    if any(result.count("error") for result in results):
        return EXIT_ERRORS
    return EXIT_OK


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 or word == 'info' else 's'}"


def _counts(results: Sequence[AuditResult]) -> str:
    return ", ".join(
        _plural(sum(r.count(severity) for r in results), severity) for severity in SEVERITIES
    )


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def format_finding(finding: Finding) -> str:
    """One line: severity, code, the call it is about, and the message (masked, escaped)."""
    where = f"call {finding.call}" if finding.call is not None else ""
    return f"{finding.severity:<8} {finding.code:<23} {where:<8} {safe_text(finding.message)}"


def _masked_args(call: RecordedCall) -> list[Any]:
    """The call's arguments with personal data masked; a string passed to ``identify`` (a user
    id, as in ``identify('42', {...})``) is an identity too."""
    args = list(call.args)
    if call.method == "identify":
        args = [mask_identity_value("external_id", a) if isinstance(a, str) else a for a in args]
    masked: list[Any] = mask_data(args)
    return masked


def printable(call: RecordedCall) -> RecordedCall:
    """``call`` as the call table may show it: personal data masked, and control characters
    escaped in what the table prints as it is (pixel, method, event name, event_id); the
    table writes the other arguments as ASCII-only JSON."""
    args = _masked_args(call)
    if call.method == "track" and args and isinstance(args[0], str):
        args[0] = escape_controls(args[0])
    if call.event_id is not None and isinstance(args[2], dict):
        args[2] = {**args[2], "event_id": safe_text(call.event_id)}
    pixel = safe_text(call.pixel) if call.pixel is not None else None
    return RecordedCall(pixel, safe_text(call.method), tuple(args), call.url, call.document)


def _by_url(page: PageFacts) -> list[tuple[str, int, list[RecordedCall]]]:
    """The page's calls in runs of the URL they were made at: ``(url, first number, calls)``."""
    runs: list[tuple[str, int, list[RecordedCall]]] = []
    for number, call in page.numbered():
        url = call.url or page.url
        if not runs or runs[-1][0] != url:
            runs.append((url, number, []))
        runs[-1][2].append(call)
    return runs


def _sent(evidence: Evidence, number: int) -> str:
    call = evidence.call(number)
    return safe_text(f"#{number} {call.method}" + (f" {call.event}" if call.event else ""))


def _step_line(evidence: Evidence, step: StepReport) -> str:
    """``--click #add: sent #4 track AddToCart (expected AddToCart)``."""
    sent = ", ".join(_sent(evidence, n) for n in step.calls[:10]) or "nothing"
    if len(step.calls) > 10:
        sent += f" and {len(step.calls) - 10} more"
    expected = f" (expected {safe_text(', '.join(step.expect))})" if step.expect else ""
    return f"{safe_text(step.step)}: sent {sent}{expected}"


def _page_lines(page: PageFacts) -> list[str]:
    """A page's call table; for a page whose URL changed (a single-page app), one per URL."""
    runs = _by_url(page)
    lines = [f"  page {safe_text(page.url)}"]
    if len({url for url, _, _ in runs}) <= 1:
        calls = [printable(call) for call in page.calls]
        return [*lines, _indent(format_calls(calls, start=page.first_call), "  ")]
    for url, first, calls in runs:
        lines.append(f"    at {safe_text(url)}")
        lines.append(_indent(format_calls([printable(c) for c in calls], start=first), "    "))
    return lines


def format_result(result: AuditResult) -> str:
    """The calls of every page of one audit as tables, then its findings."""
    if result.failure is not None or result.evidence is None:
        reason = safe_text(str(result.failure))
        if not reason.startswith("could not be audited"):
            reason = f"could not be audited: {reason}"
        return f"{safe_text(result.url)}\n  {reason}"
    evidence = result.evidence
    lines = [
        f"{safe_text(result.url)}  ({_plural(len(evidence.pages), 'page')}, "
        f"{_plural(len(evidence.calls), 'call')})"
    ]
    for page in evidence.pages:
        lines.extend(_page_lines(page))
    if evidence.steps:
        lines.append("  steps:")
        lines.extend(
            f"    {number}. {_step_line(evidence, step)}"
            for number, step in enumerate(evidence.steps, 1)
        )
    lines.append(f"  findings: {_counts([result])}")
    lines.extend(f"    {format_finding(finding)}" for finding in result.findings)
    return "\n".join(lines)


def format_report(results: Sequence[AuditResult]) -> str:
    """Every result, then a closing line with the totals and what the exit status means."""
    parts = [format_result(result) for result in results]
    failed = sum(1 for result in results if result.failure is not None)
    total = f"{_plural(len(results), 'URL')}: {_counts(results)}"
    if failed:
        total += f"; {failed} could not be audited"
    parts.append(total)
    return escape_report("\n\n".join(parts))


def _masked(text: str | None) -> str | None:
    return mask_text(text) if text is not None else None


def _calls_json(evidence: Evidence) -> list[dict[str, Any]]:
    return [
        {
            "number": number,
            "url": mask_text(call.url or page.url),
            "pixel": _masked(call.pixel),
            "method": mask_text(call.method),
            "event": _masked(call.event),
            "params": mask_data(call.params) if call.method in ("track", "identify") else {},
            "event_id": _masked(call.event_id),
            "args": _masked_args(call),
        }
        for page, number, call in evidence.numbered()
    ]


def result_json(result: AuditResult) -> dict[str, Any]:
    """One URL's entry of the ``results`` list."""
    evidence = result.evidence
    pages = evidence.pages if evidence else ()
    consent_click = evidence.consent_click if evidence else False
    return {
        "url": mask_text(result.url),
        "audited": result.failure is None,
        "reason": _masked(result.failure),
        "pages": [
            {
                "url": mask_text(page.url),
                "first_call": page.first_call,
                "calls": len(page.calls),
                "stubs": page.stubs,
                "sdk_loads": [mask_text(code) for code in page.sdk_codes],
                "consent": page.consent_mode(consent_click),
            }
            for page in pages
        ],
        "calls": _calls_json(evidence) if evidence else [],
        "findings": [
            {
                **finding.to_dict(),
                "message": mask_text(finding.message),
                "url": _masked(finding.url),
            }
            for finding in result.findings
        ],
        "counts": {severity: result.count(severity) for severity in SEVERITIES},
        "truncated": asdict(evidence.truncated) if evidence else None,
        "private": [
            {"url": mask_text(url), "address": address} for url, address in evidence.private
        ]
        if evidence
        else [],
        "steps": [
            {
                "step": mask_text(step.step),
                "expect": [mask_text(name) for name in step.expect],
                "calls": list(step.calls),
            }
            for step in (evidence.steps if evidence else ())
        ],
    }


def report_json(results: Sequence[AuditResult]) -> dict[str, Any]:
    """The whole run as a JSON-ready document (schema :data:`SCHEMA`)."""
    return {
        "schema": SCHEMA,
        "exit_status": exit_status(results),
        "summary": {
            "urls": len(results),
            "not_audited": sum(1 for result in results if result.failure is not None),
            **{severity: sum(r.count(severity) for r in results) for severity in SEVERITIES},
        },
        "results": [result_json(result) for result in results],
    }


def format_json(results: Sequence[AuditResult]) -> str:
    """:func:`report_json` as the text the command prints: UTF-8 kept readable, but every
    character a terminal could act on (controls, bidi overrides) written as a ``\\u`` escape;
    the document parses to the same values."""
    return json_safe(json.dumps(report_json(results), indent=2, ensure_ascii=False))
