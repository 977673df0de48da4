"""Which hosts are TikTok's, and which are this machine's: what the recorder answers itself,
what it lets through, and what the audit and the CSP checks count as the pixel's."""

from __future__ import annotations

#: TikTok's hosts: the pixel's (``tiktok.com``) and the IPv6 enrichment host's.
TIKTOK_DOMAINS = ("tiktok.com", "tiktokw.us")
#: This machine's names: pages served here load as usual in a recorded context.
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def is_tiktok_host(host: str) -> bool:
    """Whether ``host`` is TikTok's (``tiktok.com``, ``tiktokw.us`` or a subdomain)."""
    return any(host == domain or host.endswith("." + domain) for domain in TIKTOK_DOMAINS)
