"""The Content Security Policy check: CSP Level 3 matching, the warning a page gets, merging
TikTok's sources into a policy (a header string, a Flask-Talisman dict)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from conftest import make_app, page
from flask import Flask, Response
from flask_talisman import DEFAULT_CSP_POLICY, Talisman
from hypothesis import given
from hypothesis import strategies as st

from pixel_embed import CspBlocksPixel, TikTokPixel, merge_csp
from pixel_embed.csp import (
    TIKTOK_CSP,
    TIKTOK_IPV6_ORIGIN,
    TIKTOK_ORIGIN,
    _blocks,
    parse_header,
    parse_policy,
    policy_problems,
    source_matches,
)

BEACON = TIKTOK_ORIGIN + "/api/v2/pixel"
SDK = TIKTOK_ORIGIN + "/i18n/pixel/events.js"
CSP = "Content-Security-Policy"


def blocked(policy: str, nonce: str | None = "n1", header: str = CSP) -> dict[str, tuple[str, ...]]:
    """{directive: what it blocks} for one policy header."""
    found: dict[str, tuple[str, ...]] = {}
    for problem in policy_problems([(header, policy)], nonce):
        for block in problem.blocks:
            found[block.directive] = found.get(block.directive, ()) + block.blocked
    return found


# -- parsing and matching (CSP Level 3) -----------------------------------------------------------


def test_parsing_lowercases_names_keeps_the_first_of_a_repeated_directive() -> None:
    policy = parse_policy("  Default-Src 'self' ;connect-src\thttps://a.example  ; ; connect-src *")
    assert policy.directives == {"default-src": ("'self'",), "connect-src": ("https://a.example",)}
    assert len(parse_header("default-src 'self', connect-src 'none'")) == 2


@pytest.mark.parametrize(
    ("expression", "url", "matches"),
    [
        ("*", BEACON, True),
        ("https:", BEACON, True),
        ("http:", BEACON, True),  # a secure upgrade of http
        ("wss:", BEACON, True),  # CSP Level 3 lets ws/wss sources match http(s) too
        ("data:", BEACON, False),
        ("analytics.tiktok.com", BEACON, True),
        ("ANALYTICS.TikTok.com", BEACON, True),
        ("https://analytics.tiktok.com", BEACON, True),
        ("http://analytics.tiktok.com", BEACON, True),
        ("https://*.tiktok.com", BEACON, True),
        ("https://*.analytics.tiktok.com", BEACON, False),  # a wildcard needs a subdomain
        ("*.tiktok.com", TIKTOK_IPV6_ORIGIN + "/ipv6/enrich_ipv6", False),
        ("*.tiktokw.us", TIKTOK_IPV6_ORIGIN + "/ipv6/enrich_ipv6", True),
        ("https://analytics.tiktok.com:443", BEACON, True),
        ("https://analytics.tiktok.com:*", BEACON, True),
        ("https://analytics.tiktok.com:8443", BEACON, False),
        ("https://analytics.tiktok.com/api/", BEACON, True),
        ("https://analytics.tiktok.com/api/v2/pixel", BEACON, True),
        ("https://analytics.tiktok.com/api/v2/pixel", BEACON + "/act", False),
        ("https://analytics.tiktok.com/api/v2/pixel/", BEACON, False),
        ("https://analytics.tiktok.com/i18n/", SDK, True),
        ("https://analytics.tiktok.com/", SDK, True),
        ("'self'", BEACON, False),
        ("'unsafe-inline'", BEACON, False),
        ("'nonce-abc'", BEACON, False),
        ("tiktok.com", BEACON, False),
        ("https://analytics.tiktok.com.evil.example", BEACON, False),
        ("https://analytics.tiktok.com;", BEACON, False),
        ("", BEACON, False),
    ],
)
def test_source_expressions_match_as_browsers_do(expression: str, url: str, matches: bool) -> None:
    assert source_matches(expression, url) is matches


# -- what blocks TikTok ---------------------------------------------------------------------------


def test_flask_talismans_default_policy_blocks_everything_tiktok_needs() -> None:
    found = blocked("default-src 'self'; object-src 'none'", nonce=None)
    assert found == {
        "script-src": ("the pixel's inline script", TIKTOK_ORIGIN),
        "connect-src": (TIKTOK_ORIGIN, TIKTOK_IPV6_ORIGIN),
        "img-src": (TIKTOK_ORIGIN, TIKTOK_IPV6_ORIGIN),
    }


def test_a_nonce_and_strict_dynamic_leave_only_the_beacons_blocked() -> None:
    policy = "default-src 'self'; script-src 'nonce-n1' 'strict-dynamic'"
    assert blocked(policy) == {
        "connect-src": (TIKTOK_ORIGIN, TIKTOK_IPV6_ORIGIN),
        "img-src": (TIKTOK_ORIGIN, TIKTOK_IPV6_ORIGIN),
    }


@pytest.mark.parametrize(
    ("policy", "nonce", "inline_blocked"),
    [
        ("script-src 'nonce-n1' 'strict-dynamic'", "n1", False),
        ("script-src 'nonce-other' 'strict-dynamic'", "n1", True),
        ("script-src 'nonce-n1' 'strict-dynamic'", None, True),
        ("script-src 'unsafe-inline' https:", None, False),
        # A nonce or a hash turns 'unsafe-inline' off (CSP Level 2's backward-compatible form).
        ("script-src 'unsafe-inline' 'nonce-other' https:", None, True),
        ("script-src 'unsafe-inline' 'sha256-AAAA' https:", None, True),
        ("script-src 'unsafe-inline' 'strict-dynamic' https:", None, True),
        ("script-src 'self'", "n1", True),
        ("script-src-elem 'nonce-n1' 'strict-dynamic'; script-src 'none'", "n1", False),
        ("default-src 'nonce-n1' 'strict-dynamic'", "n1", False),
        ("connect-src 'self'", None, False),  # nothing restricts scripts
    ],
)
def test_the_pixels_inline_script(policy: str, nonce: str | None, inline_blocked: bool) -> None:
    inline = "the pixel's inline script" in blocked(policy, nonce).get(
        "script-src-elem" if "script-src-elem" in policy else "script-src", ()
    )
    assert inline is inline_blocked


@pytest.mark.parametrize(
    ("policy", "sdk_blocked"),
    [
        ("script-src 'nonce-n1' https://analytics.tiktok.com", False),
        ("script-src 'nonce-n1' analytics.tiktok.com", False),
        ("script-src 'nonce-n1' https:", False),
        ("script-src 'nonce-n1' *", False),
        ("script-src 'nonce-n1' https://analytics.tiktok.com/i18n/pixel/", False),
        # Only the loader: the bundles it loads are blocked.
        ("script-src 'nonce-n1' https://analytics.tiktok.com/i18n/pixel/events.js", True),
        ("script-src 'nonce-n1' 'self'", True),
        ("default-src 'nonce-n1'", True),
        ("script-src 'nonce-n1' 'strict-dynamic' 'self'", False),
        # script-src-elem governs script elements, whatever script-src says.
        ("script-src 'nonce-n1' https:; script-src-elem 'nonce-n1'", True),
    ],
)
def test_the_sdks_scripts(policy: str, sdk_blocked: bool) -> None:
    found = [origin for blocks in blocked(policy).values() for origin in blocks]
    assert (TIKTOK_ORIGIN in found) is sdk_blocked


def test_connect_src_falls_back_to_default_src_and_none_blocks_all() -> None:
    assert blocked("default-src https: 'nonce-n1'") == {}
    assert blocked("default-src 'none'; script-src 'nonce-n1' 'strict-dynamic'") == {
        "connect-src": (TIKTOK_ORIGIN, TIKTOK_IPV6_ORIGIN),
        "img-src": (TIKTOK_ORIGIN, TIKTOK_IPV6_ORIGIN),
    }
    only_tiktok = "default-src 'self'; connect-src https://*.tiktok.com; img-src *"
    assert blocked(only_tiktok + "; script-src 'nonce-n1' 'strict-dynamic'") == {
        "connect-src": (TIKTOK_IPV6_ORIGIN,)
    }


def test_every_header_counts_and_each_policy_of_a_list_is_enforced() -> None:
    headers = [
        (CSP, "script-src 'nonce-n1' 'strict-dynamic'"),
        (CSP, "connect-src *, connect-src 'self'"),
        ("X-Other", "default-src 'none'"),
    ]
    [problem] = policy_problems(headers, "n1")
    assert [b.directive for b in problem.blocks] == ["connect-src"]


def test_a_changing_nonce_is_parsed_once() -> None:
    _blocks.cache_clear()
    for n in range(50):
        policy_problems([(CSP, f"default-src 'self' 'nonce-{n}'")], str(n))
    assert _blocks.cache_info().misses == 1
    assert _blocks.cache_info().hits == 49


# -- merging TikTok's sources in ---------------------------------------------------------------------


def test_merging_into_talismans_default_policy_keeps_its_fallback() -> None:
    merged = merge_csp(DEFAULT_CSP_POLICY)
    assert merged == {
        "default-src": "'self'",
        "object-src": "'none'",
        "script-src": "'self' https://analytics.tiktok.com",
        "connect-src": "'self' https://analytics.tiktok.com https://analytics-ipv6.tiktokw.us",
        "img-src": "'self' https://analytics.tiktok.com https://analytics-ipv6.tiktokw.us",
    }
    assert DEFAULT_CSP_POLICY == {"default-src": "'self'", "object-src": "'none'"}  # untouched


def test_merging_a_header_string_lists_and_none() -> None:
    header = (
        "default-src 'none'; script-src 'nonce-n1' 'strict-dynamic'; "
        "connect-src 'none'; img-src data: https:"
    )
    assert merge_csp(header) == (
        "default-src 'none'; script-src 'nonce-n1' 'strict-dynamic'; "
        "connect-src https://analytics.tiktok.com https://analytics-ipv6.tiktokw.us; "
        "img-src data: https:"
    )
    listed = merge_csp({"default-src": ["'self'"], "script-src-elem": ["'self'"]})
    assert listed["script-src-elem"] == ["'self'", "https://analytics.tiktok.com"]
    assert "script-src" not in listed
    assert merge_csp("") == ""  # no policy: nothing to allow


def test_csp_sources_lists_each_directive_of_the_table() -> None:
    sources = TikTokPixel().csp_sources()
    assert sources == {
        "script-src": [TIKTOK_ORIGIN],
        "connect-src": [TIKTOK_ORIGIN, TIKTOK_IPV6_ORIGIN],
        "img-src": [TIKTOK_ORIGIN, TIKTOK_IPV6_ORIGIN],
    }
    assert all(need.found and need.used_for for need in TIKTOK_CSP)


INLINE = "the pixel's inline script"
BOTH = (TIKTOK_ORIGIN, TIKTOK_IPV6_ORIGIN)
# Policies as sites and frameworks send them (defaults and documented examples), and what each
# blocks of the pixel whose script carries the nonce n1.
REAL_WORLD = {
    "flask-talisman default": (
        "default-src 'self'; object-src 'none'",
        {"script-src": (INLINE, TIKTOK_ORIGIN), "connect-src": BOTH, "img-src": BOTH},
    ),
    "django-csp default": (
        "default-src 'self'",
        {"script-src": (INLINE, TIKTOK_ORIGIN), "connect-src": BOTH, "img-src": BOTH},
    ),
    "helmet default": (
        "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';"
        "frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self';"
        "script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests",
        {"script-src": (INLINE, TIKTOK_ORIGIN), "connect-src": BOTH, "img-src": BOTH},
    ),
    "google strict csp": (
        "object-src 'none'; script-src 'nonce-n1' 'unsafe-inline' 'unsafe-eval' "
        "'strict-dynamic' https: http:; base-uri 'none'; report-uri https://csp.example/r",
        {},
    ),
    "an asset host only": (
        "default-src 'none'; base-uri 'self'; connect-src 'self' api.example.com; "
        "img-src 'self' data: assets.example.com; script-src assets.example.com; "
        "style-src 'unsafe-inline' assets.example.com",
        {"script-src": (INLINE, TIKTOK_ORIGIN), "connect-src": BOTH, "img-src": BOTH},
    ),
    "mdn example": (
        "default-src 'self'; img-src *; media-src example.org example.net; "
        "script-src userscripts.example.com",
        {"script-src": (INLINE, TIKTOK_ORIGIN), "connect-src": BOTH},
    ),
    "framing and mixed content only": (
        "block-all-mixed-content; frame-ancestors 'none'; upgrade-insecure-requests",
        {},
    ),
}


@pytest.mark.parametrize("name", REAL_WORLD)
def test_real_world_policies_and_their_merged_form(name: str) -> None:
    policy, expected = REAL_WORLD[name]
    assert blocked(policy) == expected
    merged = blocked(merge_csp(policy))
    assert all(what == (INLINE,) for what in merged.values()), merged


def test_the_docs_table_is_the_code_table() -> None:
    """docs/consent-csp.md shows TIKTOK_CSP: a row per directive and source, in order."""
    docs = (Path(__file__).parents[1] / "docs" / "consent-csp.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z-]+)` \| `(https://[^`]+)` \|", docs, re.MULTILINE)
    assert rows == [(need.directive, need.source) for need in TIKTOK_CSP]


policies = st.lists(
    st.tuples(
        st.sampled_from(
            ["default-src", "script-src", "script-src-elem", "connect-src", "img-src", "Img-Src"]
        ),
        st.lists(
            st.sampled_from(
                [
                    "'self'",
                    "'none'",
                    "'unsafe-inline'",
                    "'strict-dynamic'",
                    "'nonce-n1'",
                    "'sha256-AAAA'",
                    "https:",
                    "data:",
                    "*",
                    "*.tiktok.com",
                    "https://analytics.tiktok.com/i18n/pixel/events.js",
                    "https://cdn.example",
                    "http://analytics.tiktok.com:8080",
                ]
            ),
            max_size=4,
        ),
    ),
    max_size=6,
).map(lambda parts: "; ".join(" ".join([name, *values]) for name, values in parts))


@given(policies)
def test_a_merged_policy_never_blocks_tiktok(policy: str) -> None:
    """Whatever the policy, once merged only the pixel's own inline script can still be
    blocked (that is the nonce's business, not a source's)."""
    merged = merge_csp(policy)
    for problem in policy_problems([(CSP, merged)], "n1"):
        for block in problem.blocks:
            assert block.blocked == ("the pixel's inline script",), (policy, merged, block)


@given(st.text(max_size=300))
def test_any_header_text_is_read_without_an_error(text: str) -> None:
    policy_problems([(CSP, text), ("Content-Security-Policy-Report-Only", text)], "n1")
    merge_csp(text)


# -- the Flask check ---------------------------------------------------------------------------------


def _talisman_app(
    policy: object, *, strict: bool = False, **config: object
) -> tuple[Flask, TikTokPixel]:
    app = make_app(TIKTOK_PIXEL_STRICT=strict, **config)
    pixel = TikTokPixel(app)
    Talisman(
        app,
        force_https=False,
        content_security_policy=policy,
        content_security_policy_nonce_in=["script-src"],
    )
    app.add_url_rule("/", "home", lambda: page())
    app.add_url_rule("/data", "data", lambda: {"ok": True})
    return app, pixel


TALISMAN_WITH_NONCE = {**DEFAULT_CSP_POLICY, "script-src": ["'self'", "'strict-dynamic'"]}


def test_talismans_policy_with_a_nonce_warns_once_per_endpoint(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, _ = _talisman_app(TALISMAN_WITH_NONCE)
    client = app.test_client()
    with caplog.at_level(logging.WARNING, "pixel_embed"):
        for _ in range(3):
            client.get("/")
        client.get("/data")  # no pixel on it: not checked
    [record] = caplog.records
    text = record.getMessage()
    assert "Content-Security-Policy header of '/' (endpoint 'home') blocks TikTok" in text
    assert (
        "connect-src is not set, so default-src ('self') applies, and blocks "
        "https://analytics.tiktok.com, https://analytics-ipv6.tiktokw.us: add connect-src "
        "'self' https://analytics.tiktok.com https://analytics-ipv6.tiktokw.us"
    ) in text
    assert "script-src" not in text  # the nonce and 'strict-dynamic' let the scripts run
    assert "once per endpoint" in text


def test_merged_sources_silence_the_warning(caplog: pytest.LogCaptureFixture) -> None:
    app, _ = _talisman_app(merge_csp(TALISMAN_WITH_NONCE))
    with caplog.at_level(logging.WARNING, "pixel_embed"):
        response = app.test_client().get("/")
    assert "connect-src 'self' https://analytics.tiktok.com" in response.headers[CSP]
    assert caplog.records == []


def test_talismans_bare_default_policy_names_the_missing_nonce(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, _ = _talisman_app(DEFAULT_CSP_POLICY)  # no script-src: Talisman adds no nonce
    with caplog.at_level(logging.WARNING, "pixel_embed"):
        app.test_client().get("/")
    text = caplog.text
    assert "blocks the pixel's inline script: the policy lists no nonce" in text
    assert "content_security_policy_nonce_in" in text
    assert "add script-src 'self' https://analytics.tiktok.com" in text


def test_report_only_is_worded_for_the_day_it_is_enforced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app(TIKTOK_PIXEL_STRICT=False)
    TikTokPixel(app, nonce=lambda: "n1")
    app.add_url_rule("/", view_func=lambda: page())

    @app.after_request
    def policy(response: Response) -> Response:
        response.headers["Content-Security-Policy-Report-Only"] = (
            "default-src 'self'; script-src 'nonce-n1' 'strict-dynamic'"
        )
        return response

    with caplog.at_level(logging.WARNING, "pixel_embed"):
        app.test_client().get("/")
    assert "would block TikTok once enforced" in caplog.text
    assert "on the day it is enforced, delivery stops" in caplog.text


def test_strict_mode_raises_on_every_request() -> None:
    app, _ = _talisman_app(TALISMAN_WITH_NONCE, strict=True)
    client = app.test_client()
    for _ in range(2):
        with pytest.raises(CspBlocksPixel, match="connect-src is not set"):
            client.get("/")


def test_a_page_without_the_pixel_or_with_it_disabled_is_not_checked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, _ = _talisman_app(TALISMAN_WITH_NONCE, strict=True)
    app.add_url_rule("/plain", "plain", lambda: "<p>no pixel</p>")
    assert app.test_client().get("/plain").status_code == 200
    office, _ = _talisman_app(TALISMAN_WITH_NONCE, TIKTOK_PIXEL_INTERNAL_IPS=["127.0.0.1"])
    with caplog.at_level(logging.WARNING, "pixel_embed"):
        assert "internal address" in office.test_client().get("/").text
    assert caplog.records == []


def test_the_check_reads_the_nonce_on_the_script_and_never_asks_again() -> None:
    """A nonce function is asked once per page, as before the check existed."""
    asked: list[str] = []

    def nonce() -> str:
        if asked:
            raise RuntimeError("the nonce function was asked twice")
        asked.append("n1")
        return "n1"

    app = make_app()  # strict: a blocked pixel would raise
    TikTokPixel(app, nonce=nonce)
    app.add_url_rule("/", "home", lambda: page())

    @app.after_request
    def policy(response: Response) -> Response:
        response.headers[CSP] = "script-src 'nonce-n1' 'strict-dynamic'; object-src 'none'"
        return response

    response = app.test_client().get("/")
    assert response.status_code == 200
    assert '<script nonce="n1">' in response.text
    assert asked == ["n1"]


@pytest.mark.parametrize(
    ("trusted_types", "blocks"),
    [
        ("; trusted-types 'none'", True),
        ("; trusted-types myapp 'allow-duplicates'", True),
        ("; trusted-types myapp default", False),
        ("; trusted-types *", False),
        ("", False),  # the page may define a default policy: not ruled out
    ],
)
def test_trusted_types_that_rule_out_a_default_policy(trusted_types: str, blocks: bool) -> None:
    policy = "script-src 'nonce-n1' 'strict-dynamic'; require-trusted-types-for 'script'"
    found = blocked(policy + trusted_types)
    assert (found == {"trusted-types": ("TikTok's base code",)}) is blocks
    assert blocks or found == {}
