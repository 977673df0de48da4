"""Content Security Policy violations a recorded browser context saw, and which concern TikTok.

Every document of a recorded context reports its ``securitypolicyviolation`` events here (an
init script, before the page's own). A violation concerns the pixel when it blocked one of
TikTok's hosts (the SDK's scripts, its beacons) or an inline script that holds the pixel.

In the recorder's mode (``"serve"``) no beacon would ever be sent, so a ``connect-src`` that
blocks TikTok would go unseen: the recorder's stand-in SDK sends one empty probe beacon to each
of TikTok's beacon hosts when it loads (:data:`PROBE_JS`), answered locally and never recorded.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..csp import TIKTOK_IPV6_ORIGIN, TIKTOK_ORIGIN
from .hosts import is_tiktok_host

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

    from .recorder import PixelRecorder

#: The query that marks the recorder's probe beacons (the route answers them, unrecorded).
PROBE_QUERY = "pixel_embed_probe=1"
_PROBES = [
    f"{TIKTOK_ORIGIN}/api/v2/pixel?{PROBE_QUERY}",
    f"{TIKTOK_IPV6_ORIGIN}/ipv6/enrich_ipv6?{PROBE_QUERY}",
]
#: Appended to the recorder's stand-in SDK: what the real SDK's first beacons would meet.
PROBE_JS = (
    "\n;(function () { try { "
    + "".join(f"navigator.sendBeacon({json.dumps(url)}, '{{}}'); " for url in _PROBES)
    + "} catch (e) { /* no sendBeacon: nothing to probe */ } })();\n"
)
_WATCH_JS = r"""
(function () {
  "use strict";
  // The pixel's inline script: TikTok's stub, or pixel_embed's calls.
  var PIXEL = /\bttq\b|TiktokAnalyticsObject|pixelEmbed/;
  document.addEventListener("securitypolicyviolation", function (e) {
    try {
      var report = window.__pixelEmbedViolation;
      if (typeof report !== "function") return;
      var target = e.target, text = "";
      if (target && target.tagName === "SCRIPT" && !target.src) {
        text = String(target.textContent || "");
      }
      var sent = report({
        url: String(location.href),
        blocked: String(e.blockedURI || ""),
        directive: String(e.effectiveDirective || e.violatedDirective || ""),
        disposition: String(e.disposition || "enforce"),
        pixel_script: PIXEL.test(text),
        sample: String(e.sample || "").slice(0, 200)
      });
      if (sent && typeof sent.catch === "function") sent.catch(function () {});
    } catch (err) { /* the binding is gone when the page closes */ }
  }, true);
})();
"""


@dataclass(frozen=True)
class PolicyViolation:
    """One ``securitypolicyviolation`` event of a recorded page.

    :param url: the page's URL.
    :param blocked: what was blocked: a URL, or ``"inline"``, ``"eval"``…
    :param directive: the directive the browser checked (``connect-src``, ``script-src-elem``).
    :param disposition: ``"enforce"``, or ``"report"`` under a report-only policy.
    :param pixel_script: an inline script holding the pixel was blocked.
    :param sample: the start of what was blocked, when the browser gives it (for a Trusted
        Types sink: ``HTMLScriptElement src|https://analytics.tiktok.com/…``).
    """

    url: str
    blocked: str
    directive: str
    disposition: str = "enforce"
    pixel_script: bool = False
    sample: str = ""

    @property
    def host(self) -> str:
        """The host of what was blocked; for a Trusted Types sink, of the URL it was given."""
        if self.blocked == "trusted-types-sink" and "|" in self.sample:
            return urlsplit(self.sample.split("|", 1)[1].strip()).hostname or ""
        return urlsplit(self.blocked).hostname or ""

    @property
    def concerns_tiktok(self) -> bool:
        """It blocked one of TikTok's hosts or the pixel's inline script."""
        return self.pixel_script or is_tiktok_host(self.host)

    @property
    def is_beacon(self) -> bool:
        """It blocked a beacon to TikTok (``connect-src``, or an image beacon)."""
        return self.directive in ("connect-src", "img-src") and self.concerns_tiktok

    def describe(self) -> str:
        if self.pixel_script:
            what = "the pixel's inline script"
        elif self.blocked == "trusted-types-sink" and self.sample:
            what = f"a string given to {self.sample.replace('|', ': ', 1)} (TikTok's base code)"
        else:
            what = self.blocked.split("?")[0]
        how = "blocked" if self.disposition == "enforce" else "would block once enforced"
        return f"{self.directive} {how} {what}"

    @classmethod
    def from_js(cls, data: dict[str, Any]) -> PolicyViolation:
        return cls(
            url=str(data.get("url", "")),
            blocked=str(data.get("blocked", "")),
            directive=str(data.get("directive", "")),
            disposition=str(data.get("disposition", "enforce")),
            pixel_script=bool(data.get("pixel_script", False)),
            sample=str(data.get("sample", "")),
        )


def watch_violations(context: BrowserContext, recorder: PixelRecorder) -> None:
    """Keep each ``securitypolicyviolation`` of ``context``'s documents in
    ``recorder.violations``."""
    context.expose_function(
        "__pixelEmbedViolation",
        lambda data: recorder.violations.append(PolicyViolation.from_js(data)),
    )
    context.add_init_script(_WATCH_JS)


def tiktok_violations(recorder: PixelRecorder) -> list[PolicyViolation]:
    """The violations that blocked TikTok's hosts or the pixel's script, in order."""
    return [violation for violation in recorder.violations if violation.concerns_tiktok]


def format_violations(violations: Sequence[PolicyViolation]) -> str:
    """One line per distinct violation, with how often it happened and on which page."""
    counted = Counter((v.describe(), v.url) for v in violations)
    return "\n".join(
        f"  {what} on {url}" + (f" ({times} times)" if times > 1 else "")
        for (what, url), times in counted.items()
    )


def blocked_beacons_note(recorder: PixelRecorder) -> str:
    """For a failed wire assertion: the beacons the page's policy blocked, or ``""``."""
    blocked = [v for v in recorder.violations if v.is_beacon]
    if not blocked:
        return ""
    return (
        f"\nthe page's Content Security Policy blocked {len(blocked)} beacon(s) to TikTok "
        "(allow pixel.csp_sources() in the policy: pixel_embed.merge_csp):\n"
        + format_violations(blocked)
    )
