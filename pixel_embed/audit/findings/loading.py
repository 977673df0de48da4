"""Rules about how each page loads the pixel: TikTok's base code and SDK, pixel ids, the Content
Security Policy, JavaScript errors that stop the pixel, the page view, requests not made.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from urllib.parse import urlsplit

from ...browser.hosts import is_tiktok_host
from .evidence import BASE_CODE, Evidence, Finding, PageFacts, ScriptError

# A script that makes a ttq call (ttq.track(…), window.ttq.page(), ttq.instance(…)).
_TTQ_CALL = re.compile(r"\bttq\s*\.\s*[A-Za-z_]")
_PIXEL_ERROR = re.compile(r"\bttq\b|tiktok", re.IGNORECASE)

# The old SDK loader, from before TikTok's current base code.
_OLD_SDK = re.compile(r"/i18n/pixel/sdk\.js")

#: A TikTok pixel id: 20 upper-case letters and digits, as Events Manager shows it.
PIXEL_ID = re.compile(r"[A-Z0-9]{20}")

# What template placeholders look like: XXXX…, YOUR_PIXEL_ID, {{ pixel_id }}, <PIXEL_ID>, ${id}.
_PLACEHOLDER = re.compile(
    r"^X{4,}$|YOUR|PIXEL[_ -]?(?:ID|CODE)|INSERT|REPLACE|[{}<>$%]"
    r"|^(?:0+|1234.*|test|undefined|null)$",
    re.IGNORECASE,
)


def double_load(evidence: Evidence) -> Iterator[Finding]:
    """The SDK loaded twice for one pixel, or TikTok's stub twice on one page."""
    for page in evidence.pages:
        loads = Counter(page.sdk_codes)
        if page.stubs > 1 and (len(loads) < page.stubs or max(loads.values()) > 1):
            yield Finding(
                "duplicate-stub",
                "error",
                f"the page holds TikTok's stub {page.stubs} times for "
                f"{_plural(len(loads), 'pixel')}: remove the copies (a theme plus a tag "
                "manager?)",
                url=page.url,
            )
        elif page.stubs > 1:
            yield Finding(
                "stub-per-pixel",
                "info",
                f"the page holds TikTok's stub {page.stubs} times, one per pixel "
                f"({', '.join(loads)}): both pixels work; keep them (one stub can load both, "
                "ttq.load(A); ttq.load(B))",
                url=page.url,
            )
        for code, times in loads.items():
            if times > 1:
                yield Finding(
                    "pixel-loaded-twice",
                    "error",
                    f"TikTok's SDK was requested {times} times for pixel {code!r} on the page "
                    f"(ttq.load ran {times} times; the call table lists a pixel's load once): "
                    "events may be counted twice",
                    url=page.url,
                )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def repeated_page_views(evidence: Evidence) -> Iterator[Finding]:
    """``ttq.page()`` more than once at one URL of one page load (per pixel): TikTok's SDK
    sends one page view per URL and drops the repeats, so nothing is counted twice; a
    single-page app calls it once per route."""
    for page in evidence.pages:
        seen: Counter[tuple[str | None, str]] = Counter(
            (call.pixel, call.url or page.url) for call in page.calls if call.method == "page"
        )
        for (_, url), times in seen.items():
            if times > 1:
                yield Finding(
                    "page-repeated",
                    "info",
                    f"ttq.page() ran {times} times at {url}: TikTok's SDK sends one page view "
                    "per URL and drops the repeats (nothing is counted twice); call it once per "
                    "route",
                    url=page.url,
                )


def _pixel_part(text: str) -> str | None:
    """What of the pixel a script holds: ``"TikTok's base code"``, ``"a ttq call"`` or nothing."""
    if BASE_CODE.search(text):
        return "TikTok's base code"
    if _TTQ_CALL.search(text):
        return "a ttq call"
    return None


def _error_origin(page: PageFacts | None, error: ScriptError) -> tuple[str, str | None]:
    """Where an error comes from (``inline script 2, line 14 of the page``, a file and line),
    and what of the pixel that script holds."""
    scripts = dict(page.external_scripts) if page is not None else {}
    src = error.script_src or (error.source if error.source in scripts else None)
    if src is None and is_tiktok_host(urlsplit(error.source).hostname or ""):
        src = error.source
    if src is not None:
        where = f"{src}, line {error.line}" if error.line else src
        if is_tiktok_host(urlsplit(src).hostname or ""):
            return where, "TikTok's SDK"
        return where, _pixel_part(scripts.get(src, ""))
    if page is not None:
        index = None
        if error.script_text is not None and error.script_text in page.inline_scripts:
            index = page.inline_scripts.index(error.script_text) + 1
        elif error.script_text is None and error.line:
            index = page.inline_script_at(error.line)
        if index is not None:
            line = f", line {error.line} of the page" if error.line else ""
            return f"inline script {index}{line}", _pixel_part(page.inline_scripts[index - 1])
    if error.script_text is not None:
        return "an inline script", _pixel_part(error.script_text)
    return error.source or "the page", None


def _failing_lines(page: PageFacts | None, error: ScriptError) -> list[str] | None:
    """The lines of the failing script from the failing line to its end, when the audit has
    the script's text and the line number."""
    if page is None or not error.line:
        return None
    scripts = dict(page.external_scripts)
    src = error.script_src or (error.source if error.source in scripts else None)
    if src is not None:
        text = scripts.get(src) or ""
        lines = text.split("\n")[error.line - 1 :]
        return lines or None
    index = page.inline_script_at(error.line)
    if index is None or page.html is None:
        return None
    text = page.inline_scripts[index - 1]
    first = page.html.count("\n", 0, page.html.find(text)) + 1
    return text.split("\n")[error.line - first :] or None


def pixel_js_errors(evidence: Evidence) -> Iterator[Finding]:
    """Uncaught JavaScript errors of a script that holds the base code or a ``ttq`` call (the
    pixel does not run, or the event after the error is never sent), and any that mentions
    ``ttq`` or TikTok."""
    errors: list[tuple[str, PageFacts | None, ScriptError]] = [
        (page.url, page, error) for page in evidence.pages for error in page.errors
    ]
    errors += [(url, None, error) for url, error in evidence.errors]
    for url, page, error in errors:
        where, part = _error_origin(page, error)
        # A script that ran (the SDK was requested: its base code ran) and then failed at a
        # line of the site's own code lost only the rest of it; one that does not parse lost all.
        ran = page is not None and bool(page.sdk_scripts) and "SyntaxError" not in error.message
        lines = _failing_lines(page, error) if part == "TikTok's base code" and ran else None
        if lines is not None and not _PIXEL_ERROR.search(lines[0]):
            later = any(_TTQ_CALL.search(line) for line in lines[1:])
            if not later and not _PIXEL_ERROR.search(error.message):
                continue  # the pixel loaded, and nothing of it came after the error
            message = (
                f"JavaScript error in {where}: {error.message}; that line is the site's own "
                "code, but the error stops the rest of the script, which holds "
                + ("ttq calls that never run" if later else "TikTok's base code")
            )
        elif part is not None:
            message = f"JavaScript error in {where}, which holds {part}: {error.message}"
        elif _PIXEL_ERROR.search(error.message):
            message = f"JavaScript error from the pixel in {where}: {error.message}"
        else:
            continue
        yield Finding("pixel-js-error", "error", message, url=url)


def sdk_never_requested(evidence: Evidence) -> Iterator[Finding]:
    """The page holds TikTok's base code, but the SDK was never requested: the pixel does not
    run (a script error, a template bug), and no call is recorded."""
    for page in evidence.pages:
        where = page.base_code
        if where is None or page.sdk_scripts or page.consent_api:
            continue
        if any(v.disposition == "enforce" for v in page.csp):
            continue  # csp-blocked says why
        yield Finding(
            "sdk-never-requested",
            "error",
            f"the page holds TikTok's base code ({where}) but never requested TikTok's SDK: the "
            "pixel does not run (if it waits for consent, audit with --accept-consent)",
            url=page.url,
        )


def pixel_ids(evidence: Evidence) -> Iterator[Finding]:
    """A pixel id is 20 upper-case letters and digits; a template placeholder is not one."""
    seen: set[str] = set()
    for page in evidence.pages:
        for code in page.pixel_ids():
            if code in seen or PIXEL_ID.fullmatch(code):
                continue
            seen.add(code)
            if not code.strip() or _PLACEHOLDER.search(code):
                why = "is a placeholder, not a pixel id: copy the id from TikTok Events Manager"
            else:
                why = (
                    "is not a TikTok pixel id (20 upper-case letters and digits, as TikTok "
                    "Events Manager shows it): events go nowhere"
                )
            yield Finding("invalid-pixel-id", "error", f"pixel id {code!r} {why}", url=page.url)


def csp_blocks(evidence: Evidence) -> Iterator[Finding]:
    """A Content Security Policy that blocks TikTok: one finding per directive and host the
    policy blocked (an enforced policy: an error; a report-only one: a warning, for the day it
    is enforced), and one per page whose policy blocks the pixel's inline script."""
    # (directive, host, disposition) -> the first page, the first URL, requests, pages.
    hosts: dict[tuple[str, str, str], tuple[str, str, int, set[str]]] = {}
    for page in evidence.pages:
        for violation in page.csp:
            host = urlsplit(violation.blocked).hostname or ""
            if is_tiktok_host(host):
                key = (violation.directive, host, violation.disposition)
                url, first, times, pages = hosts.get(key, (page.url, violation.blocked, 0, set()))
                hosts[key] = (url, first, times + 1, pages | {page.url})
            elif (
                violation.disposition == "enforce"
                and violation.blocked == "inline"
                and page.stubs
                and not page.has_ttq
            ):
                yield Finding(
                    "csp-blocked",
                    "error",
                    f"the page's Content Security Policy ({violation.directive}) blocks the "
                    "pixel's inline script: give it the page's nonce",
                    url=page.url,
                )
    for (directive, host, disposition), (url, first, times, pages) in hosts.items():
        # A policy sets script-src; the browser reports the script-src-elem it derives.
        edit = "script-src" if directive == "script-src-elem" else directive
        enforced = disposition == "enforce"
        yield Finding(
            "csp-blocked",
            "error" if enforced else "warning",
            f"the page's {'' if enforced else 'report-only '}Content Security Policy "
            f"{'blocks' if enforced else 'would block, once enforced,'} {host} under "
            f"{directive} ({times} request(s) on {len(pages)} page(s), first "
            f"{first.split('?')[0]}): add https://{host} to {edit} (pixel.csp_sources() "
            "lists every source TikTok needs)",
            url=url,
        )


def page_view(evidence: Evidence) -> Iterator[Finding]:
    """A page that loads the pixel calls ``ttq.page()``."""
    for page in evidence.pages:
        methods = {call.method for call in page.calls}
        if "load" in methods and "page" not in methods:
            yield Finding(
                "page-missing",
                "warning",
                "the pixel loaded but ttq.page() was never called: no page view is counted",
                url=page.url,
            )


def old_sdk(evidence: Evidence) -> Iterator[Finding]:
    """The page loads TikTok's old SDK (``sdk.js``) instead of the current base code."""
    for page in evidence.pages:
        old = [url for url in page.sdk_scripts if _OLD_SDK.search(urlsplit(url).path)]
        if old:
            yield Finding(
                "old-base-code",
                "warning",
                "the page loads TikTok's old SDK (i18n/pixel/sdk.js): replace it with the "
                "current base code from TikTok Events Manager",
                url=page.url,
            )


def pixel_present(evidence: Evidence) -> Iterator[Finding]:
    """The audited pages have a pixel at all."""
    if not any(page.stubs or page.sdk_scripts or page.calls for page in evidence.pages):
        message = "no TikTok pixel was found"
        if evidence.blocked:
            message += (
                " (requests to other hosts were not made: if a tag manager loads the pixel, "
                "allow its host with --allow-host)"
            )
        yield Finding("no-pixel", "warning", message, url=evidence.url)


def limited_data_use(evidence: Evidence) -> Iterator[Finding]:
    """The pixel loads with TikTok's Limited Data Use flag."""
    for page, number, call in evidence.numbered():
        options = call.args[1] if call.method == "load" and len(call.args) > 1 else None
        if isinstance(options, dict) and options.get("limited_data_use"):
            yield Finding(
                "ldu",
                "info",
                f"pixel {call.pixel} loads with Limited Data Use",
                number,
                page.url,
            )


def blocked_requests(evidence: Evidence) -> Iterator[Finding]:
    """Requests the audit did not let through (hosts other than the audited one)."""
    hosts = sorted({urlsplit(url).hostname or url for url in evidence.blocked})
    if hosts:
        yield Finding(
            "blocked-requests",
            "info",
            f"{len(evidence.blocked)} request(s) to other hosts were not made: "
            f"{', '.join(hosts)} (allow them with --allow-host)",
            url=evidence.url,
        )
