"""Rules about secrets in the page: an Events API access token in browser code. A finding
never quotes the secret, not even a part of it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from .evidence import Evidence, Finding

# TikTok's Events API (business-api.tiktok.com/open_api/…), and its access token header.
_EVENTS_API = re.compile(r"business-api\.tiktok\.com|/open_api/v\d", re.IGNORECASE)
_TOKEN = re.compile(
    r"""['"]?Access-Token['"]?\s*[:,=]\s*[`'"]?[A-Za-z0-9_\-.]{16,}""", re.IGNORECASE
)
_ADVICE = (
    "anyone can read it and send events as you: revoke it in TikTok Events Manager and call "
    "the Events API from your server (pixel_embed.events_api)"
)


def _scripts(evidence: Evidence) -> Iterator[tuple[str, str, str]]:
    """``(page url, where, text)`` of every script the audit read."""
    for page in evidence.pages:
        for index, text in enumerate(page.inline_scripts, 1):
            yield page.url, f"inline script {index}", text
        for src, text in page.external_scripts:
            yield page.url, src, text


def access_token(evidence: Evidence) -> Iterator[Finding]:
    """A script that holds an ``Access-Token`` for TikTok's Events API, or a request from the
    page to the Events API (its token is then in the page, whatever it is called)."""
    found = False
    for url, where, text in _scripts(evidence):
        if _EVENTS_API.search(text) and _TOKEN.search(text):
            found = True
            yield Finding(
                "access-token-in-page",
                "error",
                f"{where} holds an Events API access token (an Access-Token for "
                f"business-api.tiktok.com): {_ADVICE}",
                url=url,
            )
    calls = sorted(
        {
            urlsplit(request).path
            for request in evidence.tiktok_requests
            if urlsplit(request).hostname == "business-api.tiktok.com"
        }
    )
    if calls and not found:
        yield Finding(
            "access-token-in-page",
            "error",
            f"the page called TikTok's Events API from the browser ({', '.join(calls[:3])}), so "
            f"its access token is in the page: {_ADVICE}",
            url=evidence.url,
        )
