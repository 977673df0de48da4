"""Answer TikTok's SDK URL from a local recorder, and read back the calls a page made on ``ttq``.

Every request a recorded browser context makes is routed here: the SDK URL gets the recorder
script (or, in ``"real"`` mode, TikTok's own SDK from a local copy), other TikTok hosts get an
empty answer (in ``"real"`` mode their beacons are kept in :attr:`PixelRecorder.beacons`), pages
on this machine (and hosts allowed with ``allow_hosts``) load as usual, and any other address is
aborted. No test reaches the internet.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, urlsplit

from ..errors import PixelError
from ..resources import STATIC_DIR
from .calls import RecordedCall
from .hosts import LOCAL_HOSTS, is_tiktok_host
from .sdk import LOADER_PATH, SdkFiles, require_sdk_dir
from .violations import PROBE_JS, PROBE_QUERY, PolicyViolation, watch_violations
from .wire import WireEvent

if TYPE_CHECKING:
    # Playwright is imported when a page is read, not with this module: the pytest plugin and
    # the audit import it at start, in projects that may not have Playwright.
    from playwright.sync_api import BrowserContext, Page, Route

#: TikTok's SDK path; the stub asks for ``https://analytics.tiktok.com/i18n/pixel/events.js``.
SDK_PATH = LOADER_PATH
_CALLS_JS = (STATIC_DIR / "pixel_embed_calls.js").read_text(encoding="utf-8")
_RECORDER_JS = _CALLS_JS + (STATIC_DIR / "pixel_embed_recorder.js").read_text(encoding="utf-8")
_OBSERVER_JS = _CALLS_JS + (STATIC_DIR / "pixel_embed_observer.js").read_text(encoding="utf-8")
#: What a beacon gets back: TikTok's answer to an accepted event.
BEACON_ANSWER = '{"code":0,"message":"OK","data":{}}'
# The recorded calls; where nothing recorded them (no SDK arrived: aborted, or not yet), the
# calls TikTok's stub holds in its queues, in the recorder's order: each load, the calls on
# ttq, then those on each ttq.instance(code).
_READ_CALLS = """() => {
  const rec = window.__pixelEmbedRecorder;
  if (rec && rec.loaded.length) return rec.calls;
  const ttq = window[window.TiktokAnalyticsObject || "ttq"];
  if (!Array.isArray(ttq)) return [];
  const plain = (value) => {
    try { return JSON.parse(JSON.stringify(value)); } catch (e) { return null; }
  };
  const queued = (queue, pixel) => Array.from(queue || [])
    .filter((entry) => Array.isArray(entry) && typeof entry[0] === "string")
    .map((entry) => ({pixel, method: entry[0], args: plain(entry.slice(1)) || []}));
  const codes = Object.keys(ttq._i || {});
  // ttq.load("CODE") as the page wrote it, as the recorder shows it (the stub keeps n||{}).
  const loads = codes.map((code) => {
    const options = plain((ttq._o || {})[code]) || {};
    const args = Object.keys(options).length ? [code, options] : [code];
    return {pixel: code, method: "load", args};
  });
  return [...loads, ...queued(ttq, null), ...codes.flatMap((code) => queued(ttq._i[code], code))];
}"""
# Every document hands its inline scripts to the recorder once parsed, so the PII guard sees
# every page of a journey, not only the last one.
_INLINE_SCRIPTS = "Array.from(document.scripts).filter(s => !s.src).map(s => s.textContent)"
_REPORT_SCRIPTS = f"""
document.addEventListener("DOMContentLoaded", () => {{
  if (typeof window.__pixelEmbedScripts !== "function") return;
  window.__pixelEmbedScripts(String(location.href), {_INLINE_SCRIPTS}).catch(() => {{}});
}});
"""

#: ``"serve"``: the recorder stands in for the SDK; ``"abort"``: the SDK URL fails, as with an
#: ad blocker; ``"real"``: TikTok's own SDK, served from a local copy.
SdkMode = Literal["serve", "abort", "real"]


@dataclass
class PixelRecorder:
    """Routes one browser context's requests and keeps what its pages did.

    :ivar sdk: ``"serve"`` answers the SDK URL with the recorder; ``"abort"`` fails it, as an
        ad blocker would; ``"real"`` serves TikTok's own SDK from :attr:`sdk_dir`.
    :ivar sdk_dir: the local copy of TikTok's SDK served in ``"real"`` mode.
    :ivar beacons: in ``"real"`` mode, every beacon the SDK sent (answered here, never sent on),
        in order.
    :ivar history: every recorded call of every page of the context, in order.
    :ivar sdk_requests: the URLs of every request made to a TikTok host.
    :ivar blocked: the URLs of requests that were aborted: other outside addresses, and in
        ``"abort"`` mode TikTok's.
    :ivar errors: uncaught JavaScript errors of the context's pages.
    :ivar scripts: ``(url, text)`` of each inline script of each document the context loaded.
    :ivar allowed_hosts: outside hosts (and their subdomains) that load as usual, e.g. the site
        an audit opens.
    :ivar violations: every Content Security Policy violation of the context's pages.
    """

    sdk: SdkMode = "serve"
    history: list[RecordedCall] = field(default_factory=list)
    sdk_requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    scripts: list[tuple[str, str]] = field(default_factory=list)
    allowed_hosts: frozenset[str] = frozenset()
    sdk_dir: Path | None = None
    beacons: list[WireEvent] = field(default_factory=list)
    observing: bool = field(default=False, repr=False)
    violations: list[PolicyViolation] = field(default_factory=list)

    def allows(self, host: str) -> bool:
        """Whether requests to ``host`` load as usual: this machine, or an allowed host or one of
        its subdomains; never TikTok's hosts, which the recorder answers."""
        if is_tiktok_host(host):
            return False
        return host in LOCAL_HOSTS or any(
            host == allowed or host.endswith("." + allowed) for allowed in self.allowed_hosts
        )

    def _route(self, route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme in ("data", "blob", "about") or self.allows(host):
            route.continue_()
        elif is_tiktok_host(host) and parts.query == PROBE_QUERY:
            route.fulfill(status=204, body="")  # the stand-in SDK's probe: not TikTok's
        elif is_tiktok_host(host):
            self.sdk_requests.append(url)
            if self.sdk == "abort":
                self.blocked.append(url)
                route.abort("blockedbyclient")
            elif self.sdk == "real":
                self._answer_real(route, host, parts.path, parts.query)
            elif parts.path == SDK_PATH:
                route.fulfill(
                    status=200,
                    content_type="application/javascript; charset=utf-8",
                    body=_RECORDER_JS + PROBE_JS,
                    headers={"Cache-Control": "no-store"},
                )
            else:
                route.fulfill(status=204, body="")
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")

    def _answer_real(self, route: Route, host: str, path: str, query: str) -> None:
        request = route.request
        origin = request.headers.get("origin") or "*"
        cors = {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true"}
        if request.method == "OPTIONS":
            cors["Access-Control-Allow-Headers"] = "content-type"
            cors["Access-Control-Allow-Methods"] = "GET, POST"
            route.fulfill(status=204, body="", headers=cors)
        elif request.method == "POST":
            self.beacons.append(WireEvent.from_beacon(request.url, request.post_data or ""))
            route.fulfill(
                status=200, content_type="application/json", body=BEACON_ANSWER, headers=cors
            )
        else:
            sdkid = parse_qs(query).get("sdkid", [None])[0]
            files = SdkFiles(self.sdk_dir or require_sdk_dir())
            try:
                body = files.body_for(host, path, sdkid)
            except PixelError as exc:
                self.errors.append(f"{request.url}: {exc}")
                body = None
            if body is None:
                route.fulfill(status=404, body="", headers=cors)
            else:
                route.fulfill(
                    status=200,
                    content_type="application/javascript; charset=utf-8",
                    body=body,
                    headers={"Cache-Control": "no-store", **cors},
                )

    def _report(self, data: dict[str, Any]) -> None:
        self.history.append(RecordedCall.from_js(data))

    def _report_scripts(self, url: str, texts: list[str]) -> None:
        self.scripts.extend((url, text) for text in texts)

    def _watch(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))

    def sdk_loads(self) -> list[str]:
        """The pixel codes the SDK was requested for, in order (``sdkid`` of each request)."""
        codes = []
        for url in self.sdk_requests:
            parts = urlsplit(url)
            if parts.path == SDK_PATH:
                codes.extend(parse_qs(parts.query).get("sdkid", []))
        return codes


_recorders: weakref.WeakKeyDictionary[BrowserContext, PixelRecorder] = weakref.WeakKeyDictionary()


def install_recorder(
    context: BrowserContext,
    *,
    sdk: SdkMode | None = None,
    allow_hosts: Iterable[str] = (),
    sdk_dir: str | os.PathLike[str] | None = None,
) -> PixelRecorder:
    """Route ``context`` through a :class:`PixelRecorder` (once; later calls return it).

    :param sdk: what answers TikTok's SDK URL (see :data:`SdkMode`); ``None``: ``"serve"`` for
        a new recorder, the mode it has for an existing one.
    :param allow_hosts: outside hosts (with their subdomains) to load as usual rather than abort;
        TikTok's hosts are always answered by the recorder.
    :param sdk_dir: for ``sdk="real"``, the local copy of TikTok's SDK (default:
        ``PIXEL_EMBED_SDK_DIR``).
    :raises SdkNotFound: ``sdk="real"`` and there is no SDK copy there.
    """
    real_dir = require_sdk_dir(sdk_dir) if sdk == "real" else None
    existing = _recorders.get(context)
    if existing is not None:
        if sdk == "real" and not existing.observing:
            _observe(context, existing)
        existing.sdk = sdk or existing.sdk
        existing.sdk_dir = real_dir or existing.sdk_dir
        existing.allowed_hosts |= frozenset(allow_hosts)
        return existing
    recorder = PixelRecorder(
        sdk=sdk or "serve", allowed_hosts=frozenset(allow_hosts), sdk_dir=real_dir
    )
    context.expose_function("__pixelEmbedReport", recorder._report)
    context.expose_function("__pixelEmbedScripts", recorder._report_scripts)
    watch_violations(context, recorder)
    context.add_init_script(_REPORT_SCRIPTS)
    if sdk == "real":
        _observe(context, recorder)
    context.route("**/*", recorder._route)
    context.on("page", recorder._watch)
    for page in context.pages:
        recorder._watch(page)
    _recorders[context] = recorder
    return recorder


def _observe(context: BrowserContext, recorder: PixelRecorder) -> None:
    # The observer records the page's ttq calls without standing in for the SDK.
    context.add_init_script(_OBSERVER_JS)
    recorder.observing = True


def recorder_for(page: Page) -> PixelRecorder:
    """The recorder of ``page``'s context.

    :raises LookupError: the context has none (use the ``pixel_page`` fixture, or
        :func:`install_recorder`).
    """
    try:
        return _recorders[page.context]
    except KeyError:
        raise LookupError(
            "this page's browser context has no pixel recorder: use the pixel_page fixture "
            "or call install_recorder(context) before opening the page"
        ) from None


def inline_scripts(page: Page) -> list[str]:
    """The text of each inline ``<script>`` of the page's current document."""
    texts: list[str] = page.evaluate(f"() => {_INLINE_SCRIPTS}")
    return texts


def pixel_calls(page: Page, *, all_pages: bool = False) -> list[RecordedCall]:
    """The calls the page's current document made on ``ttq``, in order.

    With the SDK aborted (``recorder.sdk = "abort"``), or not requested yet, these are the
    calls TikTok's stub holds in its queue: each ``load``, then the calls on ``ttq``, then
    those on each ``ttq.instance(code)``.

    :param all_pages: every call of every page the context opened, across navigations.
    """
    from playwright.sync_api import Error

    if all_pages:
        return list(recorder_for(page).history)
    try:
        raw = page.evaluate(_READ_CALLS)
    except Error:
        # The document is being replaced (a navigation in flight): nothing recorded yet.
        return []
    return [RecordedCall.from_js(item, page.url) for item in raw]


def wire_events(page: Page) -> list[WireEvent]:
    """Every beacon TikTok's real SDK sent from ``page``'s browser context, in order, across
    the pages of the visit (held beacons are sent from a later page); empty unless the context
    runs in real-SDK mode (``install_recorder(context, sdk="real")``)."""
    return list(recorder_for(page).beacons)
