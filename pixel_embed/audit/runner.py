"""Open a page in headless Chromium, do what a visitor would, and gather the audit's evidence.

TikTok's SDK host is answered by the shared recorder (:mod:`pixel_embed.browser.recorder`), so
nothing reaches TikTok; the audited site's own host (and hosts allowed by the caller) load as
usual, other outside requests are aborted and listed, and a public page cannot reach this
machine or its private network (see :mod:`.network`). The visit itself, with its deadlines, is
:mod:`.journey`'s. For a hard limit on time and memory, the command line runs each URL in a
child process of its own (:mod:`.isolation`).

Playwright is imported when a browser is launched or a page audited, not with this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..browser.chromium import find_chromium
from ..browser.hosts import is_tiktok_host
from ..browser.recorder import install_recorder
from ..resources import STATIC_DIR
from .findings import Evidence, find_problems
from .network import NetworkGuard, Resolver, resolve
from .result import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from .result import AuditFailed as AuditFailed
from .result import AuditResult as AuditResult
from .result import Step as Step
from .result import out_of_time as out_of_time
from .result import url_deadline as url_deadline

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Route
    from playwright.sync_api import Error as PlaywrightError

_PROBE_JS = (STATIC_DIR / "pixel_embed_audit.js").read_text(encoding="utf-8")
_RECORDER_JS = (STATIC_DIR / "pixel_embed_recorder.js").read_text(encoding="utf-8")
# TikTok's old SDK loader (before events.js): answered by the recorder too, so its calls count.
_OLD_SDK_PATH = "/i18n/pixel/sdk.js"
_NET_ERROR = re.compile(r"net::(ERR_[A-Z_]+)")
_NET_REASONS = {
    "ERR_CONNECTION_REFUSED": "connection refused",
    "ERR_NAME_NOT_RESOLVED": "host not found",
    "ERR_ADDRESS_UNREACHABLE": "address unreachable",
    "ERR_CONNECTION_TIMED_OUT": "connection timed out",
    "ERR_CONNECTION_RESET": "connection reset",
    "ERR_EMPTY_RESPONSE": "empty response",
    "ERR_CERT_AUTHORITY_INVALID": "untrusted TLS certificate",
    "ERR_UNSAFE_PORT": "Chromium refuses this port",
}


@contextmanager
def launch_browser(args: Sequence[str] = ()) -> Iterator[Browser]:
    """A headless Chromium for a run of audits.

    :param args: more command-line switches for Chromium.
    :raises BrowserNotFound: there is no Chromium; the message says how to get one.
    """
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    options = chromium.launch_options
    options["args"] = [*chromium.args, *args]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**options)
        try:
            yield browser
        finally:
            browser.close()


def _reason(url: str, error: PlaywrightError) -> str:
    match = _NET_ERROR.search(error.message)
    if match is None:
        return f"cannot open {url}: {error.message.splitlines()[0]}"
    code = match.group(1)
    return f"cannot open {url}: {_NET_REASONS.get(code, code)} ({code})"


def _old_sdk(url: str) -> bool:
    parts = urlsplit(url)
    return parts.path == _OLD_SDK_PATH and is_tiktok_host(parts.hostname or "")


def _answer_old_sdk(route: Route) -> None:
    route.fulfill(
        status=200,
        content_type="application/javascript; charset=utf-8",
        body=_RECORDER_JS,
        headers={"Cache-Control": "no-store"},
    )


def gather_evidence(
    browser: Browser,
    url: str,
    steps: Sequence[Step] = (),
    *,
    timeout: float = DEFAULT_TIMEOUT,
    allow_hosts: Iterable[str] = (),
    wait: float = 0.0,
    context: BrowserContext | None = None,
    deadline: float | None = None,
    resolver: Resolver = resolve,
) -> Evidence:
    """Open ``url`` in a fresh context of ``browser``, perform ``steps``, and return what the
    pixel did on every page the visit went through.

    After the page has loaded and after each step, the audit listens until the page is quiet
    (see :data:`~.result.QUIET_SECONDS` and :data:`~.result.QUIET_BOUND`).

    :param timeout: seconds for the page to load, for each step's element to appear, and for
        the page to answer the audit.
    :param allow_hosts: outside hosts besides the URL's own to load (a CDN, say).
    :param wait: seconds to listen at least, after load and after each step, before waiting
        for quiet: for calls made from something the audit cannot see (a long timer, a socket).
    :param context: a fresh context to use instead (one whose recorder serves TikTok's real
        SDK, say); it is closed afterwards.
    :param deadline: seconds for the whole URL (default: :func:`url_deadline`); the context is
        closed when it is up.
    :param resolver: how host names are resolved for the private-network rule (see
        :mod:`.network`).
    :raises AuditFailed: the page could not be audited; the message says why.
    """
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from .journey import Journey

    host = urlsplit(url).hostname
    if urlsplit(url).scheme not in ("http", "https") or not host:
        raise AuditFailed(f"{url!r} is not an http(s) URL")
    seconds = deadline if deadline is not None else url_deadline(timeout, len(steps), wait)
    context = context or browser.new_context()
    try:
        recorder = install_recorder(context, allow_hosts=[host, *allow_hosts])
        context.route(_old_sdk, _answer_old_sdk)
        guard = NetworkGuard.for_url(url, resolver)
        guard.install(context)
        context.add_init_script(_PROBE_JS)
        page = context.new_page()
        journey = Journey(page, recorder, timeout * 1000, wait * 1000, guard=guard)
        journey.deadline = journey.started + seconds
        context.expose_function("__pixelEmbedAuditError", journey.on_error)
        page.on("response", journey.on_response)
        try:
            response = page.goto(url, wait_until="load", timeout=journey.within(timeout * 1000))
        except PlaywrightTimeout:
            raise AuditFailed(f"cannot open {url}: no answer within {timeout:g} s") from None
        except PlaywrightError as exc:
            raise AuditFailed(_reason(url, exc)) from None
        if response is not None and response.status >= 400:
            raise AuditFailed(
                f"cannot audit {url}: it answered HTTP {response.status} {response.status_text}"
            )
        journey.settle()
        journey.snapshot()
        for step in steps:
            journey.step(step)
        journey.wait_for_calls()
        return journey.evidence(url)
    finally:
        context.close()


def audit(
    browser: Browser,
    url: str,
    steps: Sequence[Step] = (),
    *,
    timeout: float = DEFAULT_TIMEOUT,
    allow_hosts: Iterable[str] = (),
    wait: float = 0.0,
    deadline: float | None = None,
    resolver: Resolver = resolve,
) -> AuditResult:
    """Audit one URL (see :func:`gather_evidence`); a page that cannot be audited gives a
    result with its ``failure`` instead of raising."""
    try:
        evidence = gather_evidence(
            browser,
            url,
            steps,
            timeout=timeout,
            allow_hosts=allow_hosts,
            wait=wait,
            deadline=deadline,
            resolver=resolver,
        )
    except AuditFailed as exc:
        return AuditResult(url, failure=str(exc))
    return AuditResult(url, evidence, tuple(find_problems(evidence)))
