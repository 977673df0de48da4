"""A Content Security Policy as browsers read it (CSP Level 3): parse a policy, and tell
whether a source expression allows a URL.

:mod:`pixel_embed.csp` asks it what a page's policy allows of TikTok's SDK. Matching follows
Chromium where CSP Level 3 leaves room (paths), and the specification elsewhere: each
directive's fallback, scheme sources and their secure upgrades, wildcard hosts and ports.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

#: Each directive a policy consults for a request of this kind, most specific first.
FALLBACKS: Mapping[str, tuple[str, ...]] = {
    "script-src-elem": ("script-src-elem", "script-src", "default-src"),
    "connect-src": ("connect-src", "default-src"),
    "img-src": ("img-src", "default-src"),
}
#: What separates a directive's name and sources (ASCII whitespace).
SOURCE_SEPARATOR = re.compile(r"[\t\n\f\r ]+")
_SCHEME_SOURCE = re.compile(r"[a-z][a-z0-9+.-]*:", re.IGNORECASE)
_HOST_SOURCE = re.compile(
    r"(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?"
    r"(?P<host>\*|(?:\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*)"
    r"(?::(?P<port>[0-9]+|\*))?"
    r"(?P<path>/[^?#,;]*)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Policy:
    """One parsed policy: each directive's source list, names lower-cased (the first of a
    repeated directive counts, as in browsers)."""

    directives: Mapping[str, tuple[str, ...]]

    def governing(self, checked: str) -> tuple[str, tuple[str, ...]] | None:
        """The directive that decides a request of kind ``checked`` (``"connect-src"``…), and
        its sources; ``None`` when no directive of its fallback list is set (no restriction)."""
        for name in FALLBACKS.get(checked, (checked, "default-src")):
            if name in self.directives:
                return name, self.directives[name]
        return None


def parse_policy(text: str) -> Policy:
    """Parse one serialized policy (CSP Level 3, 2.2.1): directives split on ``;``, names
    lower-cased, values split on ASCII whitespace; a repeated directive is ignored."""
    directives: dict[str, tuple[str, ...]] = {}
    for token in text.split(";"):
        parts = SOURCE_SEPARATOR.split(token.strip())
        name = parts[0].lower()
        if not name or name in directives or not re.fullmatch(r"[a-z0-9-]+", name):
            continue
        directives[name] = tuple(part for part in parts[1:] if part)
    return Policy(directives)


def parse_header(value: str) -> tuple[Policy, ...]:
    """The policies of one header value: a comma separates policies, each enforced."""
    return tuple(parse_policy(text) for text in value.split(",") if text.strip())


def _scheme_matches(expression: str, scheme: str) -> bool:
    # CSP3 "scheme-part match": the same scheme, or a secure upgrade of it.
    return expression == scheme or (expression, scheme) in {
        ("http", "https"),
        ("ws", "wss"),
        ("ws", "http"),
        ("ws", "https"),
        ("wss", "https"),
    }


def _path_matches(expression: str, path: str) -> bool:
    # As Chromium does (csp_source.cc): a path ending in "/" matches what starts with it, any
    # other path only itself, after percent-decoding the URL's. (CSP Level 3's algorithm
    # would also let "/a/" match "/a".)
    if not expression or (expression == "/" and not path):
        return True
    decoded = unquote(path)
    if expression.endswith("/"):
        return decoded.startswith(unquote(expression))
    return decoded == unquote(expression)


@functools.lru_cache(maxsize=64)
def _split(url: str) -> tuple[str, str, int | None, str]:
    """``url``'s scheme, host, port (the scheme's default when not written) and path."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80, "wss": 443, "ws": 80}.get(parts.scheme)
    return parts.scheme, parts.hostname or "", parts.port or default, parts.path


# A site's policies share their few source expressions: each is matched against each of
# TikTok's URLs once.
@functools.lru_cache(maxsize=1024)
def source_matches(expression: str, url: str) -> bool:
    """Whether the source ``expression`` allows ``url`` (an ``https`` URL on its default port,
    requested by a page served over http or https). Keywords (``'self'`` never matches another
    site's host), nonces, hashes and malformed expressions match nothing."""
    scheme, host, port, path = _split(url)
    if expression == "*":
        return scheme in ("http", "https", "ws", "wss")
    if expression.startswith("'"):
        return False
    if _SCHEME_SOURCE.fullmatch(expression):
        return _scheme_matches(expression[:-1].lower(), scheme)
    found = _HOST_SOURCE.fullmatch(expression)
    if found is None:
        return False
    wanted_scheme = (found["scheme"] or "").lower()
    if wanted_scheme and not _scheme_matches(wanted_scheme, scheme):
        return False
    wanted_host = found["host"].lower()
    if wanted_host.startswith("*."):
        if not host.endswith(wanted_host[1:]):
            return False
    elif wanted_host not in ("*", host):
        return False
    wanted_port = found["port"]
    if wanted_port not in (None, "*") and int(wanted_port) != port:
        return False
    return _path_matches(found["path"] or "", path)


def allows_all(sources: Sequence[str], urls: Iterable[str]) -> bool:
    """Whether the source list allows every one of ``urls``."""
    return all(any(source_matches(source, url) for source in sources) for url in urls)
