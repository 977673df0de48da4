"""Rules about consent: which consent mode the pages use, and calls sent before consent."""

from __future__ import annotations

from collections.abc import Iterator

from .evidence import Evidence, Finding, PageFacts

#: The calls that send something to TikTok (``load`` only fetches the SDK).
SENDING_METHODS: frozenset[str] = frozenset({"page", "track", "identify"})


def consent_order(evidence: Evidence) -> Iterator[Finding]:
    """No call sends anything before consent on a page that asks for consent."""
    for page in evidence.pages:
        gated = evidence.consent_click or page.consent_mode(evidence.consent_click) != "none"
        if not gated:
            continue
        held = granted = False
        for position, (number, call) in enumerate(page.numbered()):
            if call.method == "holdConsent":
                held = True
            elif call.method == "grantConsent":
                granted = True
            elif call.method == "revokeConsent":
                granted = False
            elif call.method in SENDING_METHODS and not (held or granted):
                consented = page.consented_from is not None and position >= page.consented_from
                if not consented:
                    what = call.event or call.method
                    yield Finding(
                        "call-before-consent",
                        "error",
                        f"ttq.{call.method} ({what}) ran before the visitor consented, and "
                        "consent was not held (call ttq.holdConsent() first, or load the pixel "
                        "after consent)",
                        number,
                        page.url,
                    )


def consent_detected(evidence: Evidence) -> Iterator[Finding]:
    """The consent modes the pages use (one remark per mode, on the first page using it)."""
    texts = {
        "hold": "consent mode: the SDK loads, ttq.holdConsent() holds events until consent",
        "strict": "consent mode: the SDK is not requested before consent",
    }
    modes: dict[str, list[PageFacts]] = {}
    for page in evidence.pages:
        modes.setdefault(page.consent_mode(evidence.consent_click), []).append(page)
    for mode, pages in modes.items():
        if mode in texts:
            count = f" ({len(pages)} pages)" if len(pages) > 1 else ""
            yield Finding("consent-mode", "info", texts[mode] + count, url=pages[0].url)
