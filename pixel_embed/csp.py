"""What TikTok's SDK needs from a page's Content Security Policy, and whether a policy gives it.

:data:`TIKTOK_CSP` is the table of what TikTok's browser SDK (pixel.js 2.2.1) loads and sends,
per CSP directive, with how each entry was found. :func:`policy_problems` reads a page's
``Content-Security-Policy`` (or ``-Report-Only``) header and says which directives block the
pixel, following CSP Level 3: each directive's fallback (``connect-src`` → ``default-src``,
``script-src-elem`` → ``script-src`` → ``default-src``), nonces and hashes (which turn
``'unsafe-inline'`` off), ``'strict-dynamic'`` (which turns host sources off and trusts the
scripts a trusted script inserts), scheme sources, wildcard hosts and ports, and paths.
:func:`merge_csp` adds TikTok's sources to a policy, a Flask-Talisman dict or a header string.

No well-kept Python library matches a URL against a policy: the CSP packages on PyPI parse and
print policies (content-security-policy) or look for bypasses (csp-toolkit, which needs httpx,
rich, click and BeautifulSoup); the matching (:mod:`pixel_embed.csp_policy`) is the part that
matters, and is small.

Framework-free: the Flask extension hands it the response's headers and the nonce it put on
the pixel's script, and logs or raises what it returns.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import overload

# The policy reading, re-exported: pixel_embed.csp is where the API page shows it.
from .csp_policy import FALLBACKS as FALLBACKS
from .csp_policy import SOURCE_SEPARATOR
from .csp_policy import Policy as Policy
from .csp_policy import allows_all as allows_all
from .csp_policy import parse_header as parse_header
from .csp_policy import parse_policy as parse_policy
from .csp_policy import source_matches as source_matches
from .errors import PixelError

#: TikTok's pixel host: the SDK's scripts, and its beacons.
TIKTOK_ORIGIN = "https://analytics.tiktok.com"
#: The host of the SDK's IPv6 enrichment beacon.
TIKTOK_IPV6_ORIGIN = "https://analytics-ipv6.tiktokw.us"

_SCRIPTS = tuple(
    TIKTOK_ORIGIN + path
    for path in (
        "/i18n/pixel/events.js",
        "/i18n/pixel/static/main.MWJkOTJmOWRkMQ.js",
        "/i18n/pixel/static/identify_5cff1caf.js",
        "/i18n/pixel/config.js",
        "/i18n/pixel/enable_cookie",
        "/i18n/pixel/disable_cookie",
        "/i18n/pixel/eb.js",
    )
)
_BEACONS = tuple(
    TIKTOK_ORIGIN + path
    for path in ("/api/v2/pixel", "/api/v2/pixel/act", "/api/v2/monitor", "/api/v2/performance")
)
_IPV6_BEACON = TIKTOK_IPV6_ORIGIN + "/ipv6/enrich_ipv6"


@dataclass(frozen=True)
class TikTokSource:
    """One source a CSP directive must allow for TikTok's SDK to load and deliver.

    :param directive: the directive the browser checks (``script-src-elem`` is written
        ``script-src``: a policy sets it there).
    :param source: the source expression to allow.
    :param urls: the URLs the SDK requests under it, which the source must all match.
    :param used_for: what the SDK does with it.
    :param found: how we know: the SDK copy's code, and what Chromium showed.
    """

    directive: str
    source: str
    urls: tuple[str, ...]
    used_for: str
    found: str


#: What TikTok's SDK (pixel.js 2.2.1, ``../shared/tiktok-sdk``) needs, found by reading its
#: loader and main bundle and by loading it in Chromium under policies that leave each one out
#: (tests/test_csp_browser.py). Not needed: ``frame-src``/``child-src`` (it makes no frame),
#: ``worker-src`` (no worker), ``'unsafe-eval'`` (its ``Function("return this")`` fallbacks are
#: never reached in a browser: no violation without it), ``style-src`` and ``font-src``.
TIKTOK_CSP: tuple[TikTokSource, ...] = (
    TikTokSource(
        "script-src",
        TIKTOK_ORIGIN,
        _SCRIPTS,
        "TikTok's base code inserts the loader (i18n/pixel/events.js); the loader inserts the "
        "bundles it names (static/main.*.js, static/identify_*.js for advanced matching); the "
        "bundle inserts config.js, enable_cookie, disable_cookie and eb.js on demand",
        "events.js line 361 (the static/ base URL); main bundle: its script inserter (line "
        "3365) and the URLs at lines 4171, 8265, 8297, 9415, 12674; Chromium requested "
        "events.js, main.*.js and identify_*.js, and script-src-elem violations name them",
    ),
    TikTokSource(
        "connect-src",
        TIKTOK_ORIGIN,
        _BEACONS,
        "navigator.sendBeacon POSTs of every event (/api/v2/pixel), the page's metadata "
        "(/api/v2/pixel/act) and the SDK's own monitoring (/api/v2/monitor, /performance…)",
        "main bundle lines 2549-2557 (the endpoints) and 7880 (sendBeacon); Chromium sent "
        "them as 'ping' requests, and under connect-src 'self' reported a connect-src "
        "violation for each",
    ),
    TikTokSource(
        "connect-src",
        TIKTOK_IPV6_ORIGIN,
        (_IPV6_BEACON,),
        "the IPv6 enrichment beacon (/ipv6/enrich_ipv6), sent on the first page and after "
        "advanced matching",
        "main bundle lines 2558 and 12795; Chromium sent it twice per identified first page, "
        "and reported connect-src violations for it under connect-src 'self'",
    ),
    TikTokSource(
        "img-src",
        TIKTOK_ORIGIN,
        _BEACONS,
        "image beacons: the SDK's fallback when sendBeacon is missing or refuses (over its "
        "64 KiB in-flight limit), and its image path for events under a server switch",
        "main bundle lines 7915 (sendByImage), 6058-6065 and 14025; not seen in Chromium, "
        "whose sendBeacon reports success when the policy blocks it (no fallback follows)",
    ),
    TikTokSource(
        "img-src",
        TIKTOK_IPV6_ORIGIN,
        (_IPV6_BEACON,),
        "the image fallback of the IPv6 enrichment beacon (the same report path)",
        "main bundle lines 6081-6135: every report goes through sendHttpReport, whose "
        "fallback is sendByImage; not seen in Chromium (as above)",
    ),
)

# TIKTOK_CSP's directive names → what the browser checks.
_CHECKED = {"script-src": "script-src-elem", "connect-src": "connect-src", "img-src": "img-src"}

_NONCE = re.compile(r"'nonce-([^']*)'", re.IGNORECASE)
_HASH = re.compile(r"'(?:sha256|sha384|sha512)-[^']*'", re.IGNORECASE)
# A nonce in a cached policy's text: the page's own (the pixel's), or another.
_OUR_NONCE = "'nonce-(pixel)'"
_OTHER_NONCE = "'nonce-(other)'"
#: Distinct policy strings (nonces taken out) kept parsed and checked.
CACHE_SIZE = 256


class CspBlocksPixel(PixelError):
    """The page's Content Security Policy blocks TikTok (raised in strict mode)."""


@dataclass(frozen=True)
class Blocked:
    """What one directive of one policy blocks.

    :param directive: the directive to edit (``script-src`` rather than the
        ``script-src-elem`` the browser reports, when the policy has no ``script-src-elem``).
    :param governing: the directive whose sources applied (``default-src`` for a
        ``connect-src`` the policy does not set), and those sources.
    :param blocked: the origins blocked, or ``"the pixel's inline script"``.
    :param add: the sources to add to ``directive``.
    :param advice: what to do besides adding sources (for the inline script: the nonce).
    """

    directive: str
    governing: str
    sources: tuple[str, ...]
    blocked: tuple[str, ...]
    add: tuple[str, ...] = ()
    advice: str = ""

    def describe(self) -> str:
        """One line: the directive, what applied, what it blocks, and the fix."""
        applied = " ".join(self.sources) or "(no sources)"
        if self.governing == self.directive:
            text = f"{self.directive} ({applied}) blocks {', '.join(self.blocked)}"
        else:
            text = (
                f"{self.directive} is not set, so {self.governing} ({applied}) applies, and "
                f"blocks {', '.join(self.blocked)}"
            )
        if self.add:
            if self.governing != self.directive:
                kept = [s for s in self.sources if s != "'none'"]
                text += f": add {self.directive} {' '.join([*kept, *self.add])}"
            else:
                text += f": add {' '.join(self.add)} to {self.directive}"
        if self.advice:
            text += f"{'; ' if self.add else ': '}{self.advice}"
        return text


def _is_nonce_or_hash(source: str) -> bool:
    return bool(_NONCE.fullmatch(source) or _HASH.fullmatch(source))


def _script_blocks(policy: Policy) -> list[Blocked]:
    governing = policy.governing("script-src-elem")
    if governing is None:
        return []
    name, sources = governing
    directive = "script-src-elem" if name == "script-src-elem" else "script-src"
    lowered = [source.lower() for source in sources]
    found: list[Blocked] = []
    guarded = any(_is_nonce_or_hash(source) for source in sources)
    if _OUR_NONCE in sources:
        inline_ok = True
    else:
        inline_ok = (
            not guarded and "'strict-dynamic'" not in lowered and ("'unsafe-inline'" in lowered)
        )
    if not inline_ok:
        if _OTHER_NONCE in sources:
            advice = (
                "the pixel's script carries no nonce, or another one than the policy's: give "
                "TikTokPixel(nonce=...) the function that makes the policy's nonce"
            )
        elif any(_HASH.fullmatch(source) for source in sources):
            advice = (
                "its text changes with each page's events, so no hash can list it: put a "
                "nonce in the policy and give TikTokPixel(nonce=...) the function that makes it"
            )
        else:
            advice = (
                "the policy lists no nonce: add 'nonce-…' (Flask-Talisman adds its nonce only "
                "to the directives named in content_security_policy_nonce_in that the policy "
                "has) and give TikTokPixel(nonce=...) the function that makes it"
            )
        found.append(Blocked(directive, name, sources, ("the pixel's inline script",), (), advice))
    if "'strict-dynamic'" in lowered:
        return found  # host sources are ignored; the scripts the pixel inserts are trusted
    for need in TIKTOK_CSP:
        if need.directive == "script-src" and not allows_all(sources, need.urls):
            found.append(Blocked(directive, name, sources, (need.source,), (need.source,)))
    return found


def _trusted_types_blocks(policy: Policy) -> list[Blocked]:
    """TikTok's base code sets its SDK script's ``src`` from a string: under
    ``require-trusted-types-for 'script'`` only a Trusted Types ``default`` policy lets it
    through. Reported only where the policy rules one out (a ``trusted-types`` directive that
    names neither ``default`` nor ``*``): otherwise the page may define one."""
    required = policy.directives.get("require-trusted-types-for", ())
    allowed = policy.directives.get("trusted-types")
    if "'script'" not in (s.lower() for s in required) or allowed is None:
        return []
    if any(name.lower() in ("default", "*") for name in allowed):
        return []
    return [
        Blocked(
            "trusted-types",
            "trusted-types",
            allowed,
            ("TikTok's base code",),
            (),
            "require-trusted-types-for 'script' stops it setting its SDK script's src from a "
            "string, and the policy allows no 'default' Trusted Types policy to pass it: add "
            "default to trusted-types and define one that accepts "
            f"{TIKTOK_ORIGIN}/i18n/pixel/ URLs",
        )
    ]


def _policy_blocks(policy: Policy) -> list[Blocked]:
    found = _script_blocks(policy) + _trusted_types_blocks(policy)
    for checked in ("connect-src", "img-src"):
        governing = policy.governing(checked)
        if governing is None:
            continue
        name, sources = governing
        blocked = tuple(
            need.source
            for need in TIKTOK_CSP
            if need.directive == checked and not allows_all(sources, need.urls)
        )
        if blocked:
            found.append(Blocked(checked, name, sources, blocked, blocked))
    return found


@functools.lru_cache(maxsize=CACHE_SIZE)
def _blocks(key: str) -> tuple[Blocked, ...]:
    return tuple(block for policy in parse_header(key) for block in _policy_blocks(policy))


def _cache_key(value: str, nonce: str | None) -> str:
    """The header value with each nonce replaced by a marker of whether it is the pixel's: a
    policy whose nonce changes on every request is parsed once."""
    if "'nonce-" not in value.lower():
        return value

    def marker(found: re.Match[str]) -> str:
        return _OUR_NONCE if nonce and found[1] == nonce else _OTHER_NONCE

    return _NONCE.sub(marker, value)


@dataclass(frozen=True)
class PolicyProblem:
    """A header of a page whose policy blocks TikTok.

    :param header: ``Content-Security-Policy`` or ``Content-Security-Policy-Report-Only``.
    """

    header: str
    blocks: tuple[Blocked, ...]

    @property
    def report_only(self) -> bool:
        return self.header.lower().endswith("-report-only")


CSP_HEADERS = ("content-security-policy", "content-security-policy-report-only")


def policy_problems(
    headers: Iterable[tuple[str, str]], nonce: str | None
) -> tuple[PolicyProblem, ...]:
    """What each CSP header among ``headers`` blocks of the pixel.

    :param headers: the response's headers, as (name, value) pairs.
    :param nonce: the nonce on the pixel's ``<script>`` (``None``: none).
    """
    problems = []
    for name, value in headers:
        if name.lower() not in CSP_HEADERS:
            continue
        blocks = _blocks(_cache_key(value, nonce))
        if blocks:
            problems.append(PolicyProblem(name, blocks))
    return tuple(problems)


def describe_problems(problems: Sequence[PolicyProblem], where: str) -> str:
    """The warning for a page's problems; ``where`` names the page (its path and endpoint)."""
    lines = []
    for problem in problems:
        if problem.report_only:
            lead = (
                f"the {problem.header} header of {where} would block TikTok once enforced "
                "(today the browser only reports it and TikTok still receives the events; on "
                "the day it is enforced, delivery stops)"
            )
        else:
            lead = f"the {problem.header} header of {where} blocks TikTok (it receives nothing)"
        lines.append(lead + ":\n  " + "\n  ".join(block.describe() for block in problem.blocks))
    return "\n".join(lines)


def tiktok_sources() -> dict[str, list[str]]:
    """The sources each directive must allow for TikTok's SDK, from :data:`TIKTOK_CSP`."""
    sources: dict[str, list[str]] = {}
    for need in TIKTOK_CSP:
        listed = sources.setdefault(need.directive, [])
        if need.source not in listed:
            listed.append(need.source)
    return sources


def _merged(
    directives: dict[str, list[str]], sources: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    policy = Policy({name: tuple(value) for name, value in directives.items()})
    urls = {need.source: need.urls for need in TIKTOK_CSP}
    for directive, wanted in sources.items():
        checked = _CHECKED.get(directive, directive)
        governing = policy.governing(checked)
        if governing is None:
            continue  # nothing restricts it
        name, current = governing
        if checked == "script-src-elem" and "'strict-dynamic'" in (s.lower() for s in current):
            continue  # the scripts the pixel inserts are trusted; hosts would be ignored
        missing = [
            source
            for source in wanted
            if not allows_all(current, urls.get(source, (source.rstrip("/") + "/",)))
        ]
        if not missing:
            continue
        target = "script-src-elem" if name == "script-src-elem" else directive
        if name != target and target not in directives:
            # A new directive replaces the fallback for its kind: it starts from its sources.
            directives[target] = list(current)
        kept = [source for source in directives[target] if source.lower() != "'none'"]
        directives[target] = [*kept, *missing]
    return directives


@overload
def merge_csp(
    policy: str, sources: Mapping[str, Sequence[str]] | None = None
) -> str: ...  # pragma: no cover


@overload
def merge_csp(
    policy: Mapping[str, str | Sequence[str]], sources: Mapping[str, Sequence[str]] | None = None
) -> dict[str, str | list[str]]: ...  # pragma: no cover


def merge_csp(
    policy: str | Mapping[str, str | Sequence[str]],
    sources: Mapping[str, Sequence[str]] | None = None,
) -> str | dict[str, str | list[str]]:
    """``policy`` with TikTok's sources added where it does not allow them yet.

    A directive the policy lacks is added with the sources of the directive it fell back to
    (a new ``connect-src`` would otherwise drop ``default-src 'self'``) plus TikTok's; a
    directive that already allows TikTok (``https:``, ``*``, ``'strict-dynamic'`` for scripts)
    is left as it is; ``'none'`` gives way.

    :param policy: a header value, or a Flask-Talisman policy (``{directive: sources}``, each
        a string or a list); a new one of the same kind is returned.
    :param sources: the sources to add (default: :func:`tiktok_sources`, what
        ``pixel.csp_sources()`` returns).
    """
    wanted = tiktok_sources() if sources is None else sources
    if isinstance(policy, str):
        parsed = parse_policy(policy)
        directives = {name: list(value) for name, value in parsed.directives.items()}
        merged = _merged(directives, wanted)
        return "; ".join(" ".join([name, *value]) for name, value in merged.items())
    as_lists = {
        str(name).lower(): (
            SOURCE_SEPARATOR.split(value.strip()) if isinstance(value, str) else list(value)
        )
        for name, value in policy.items()
    }
    merged = _merged({name: [s for s in value if s] for name, value in as_lists.items()}, wanted)
    result: dict[str, str | list[str]] = {}
    for name, value in merged.items():
        original = next((v for k, v in policy.items() if str(k).lower() == name), None)
        result[name] = " ".join(value) if isinstance(original, str) or original is None else value
    return result
