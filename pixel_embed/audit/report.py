"""An audit's results for people (a table of calls, then the findings) and for programs (JSON).

The JSON document is versioned by its ``"schema"`` key; a change that could break a reader
gets a new version. See the README ("Auditing a page from the command line") for its fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..testing.expect import format_calls
from .findings import SEVERITIES, Evidence, Finding
from .runner import AuditResult

SCHEMA = "pixel-embed-audit/1"

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
    """One line: severity, code, the call it is about, and the message."""
    where = f"call {finding.call}" if finding.call is not None else ""
    return f"{finding.severity:<8} {finding.code:<23} {where:<8} {finding.message}"


def format_result(result: AuditResult) -> str:
    """The calls of every page of one audit as tables, then its findings."""
    if result.failure is not None or result.evidence is None:
        return f"{result.url}\n  could not be audited: {result.failure}"
    evidence = result.evidence
    lines = [
        f"{result.url}  ({_plural(len(evidence.pages), 'page')}, "
        f"{_plural(len(evidence.calls), 'call')})"
    ]
    for page in evidence.pages:
        lines.append(f"  page {page.url}")
        lines.append(_indent(format_calls(page.calls, start=page.first_call), "  "))
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
    return "\n\n".join(parts)


def _calls_json(evidence: Evidence) -> list[dict[str, Any]]:
    return [
        {
            "number": number,
            "url": page.url,
            "pixel": call.pixel,
            "method": call.method,
            "event": call.event,
            "params": call.params if call.method in ("track", "identify") else {},
            "event_id": call.event_id,
            "args": list(call.args),
        }
        for page, number, call in evidence.numbered()
    ]


def result_json(result: AuditResult) -> dict[str, Any]:
    """One URL's entry of the ``results`` list."""
    evidence = result.evidence
    pages = evidence.pages if evidence else ()
    consent_click = evidence.consent_click if evidence else False
    return {
        "url": result.url,
        "audited": result.failure is None,
        "reason": result.failure,
        "pages": [
            {
                "url": page.url,
                "first_call": page.first_call,
                "calls": len(page.calls),
                "stubs": page.stubs,
                "sdk_loads": page.sdk_codes,
                "consent": page.consent_mode(consent_click),
            }
            for page in pages
        ],
        "calls": _calls_json(evidence) if evidence else [],
        "findings": [finding.to_dict() for finding in result.findings],
        "counts": {severity: result.count(severity) for severity in SEVERITIES},
    }


def report_json(results: Sequence[AuditResult]) -> dict[str, Any]:
    """The whole run as a JSON-ready document (schema ``pixel-embed-audit/1``)."""
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
