"""Pages that do not reload, in Chromium with the recorder: htmx (hx-post, hx-swap="none",
out-of-band, error), fetch(), a fragment, hx-boost with back/forward, consent, strict CSP, a
blocked SDK, a double click, and responses that arrive before the client script."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import CODE
from partial_support import last_id, running_partial_shop
from playwright.sync_api import Page, Route, expect

from pixel_embed.testing import expect_pixel, pixel_calls, recorder_for


@pytest.fixture(scope="module")
def shop() -> Iterator[tuple[str, list[str]]]:
    with running_partial_shop() as running:
        yield running


def methods(page: Page) -> list[str]:
    return [c.method for c in pixel_calls(page)]


def track_ids(page: Page, event: str) -> list[str | None]:
    return [c.event_id for c in pixel_calls(page) if c.event == event]


@pytest.mark.parametrize(
    ("button", "shown"), [("#add", "#out"), ("#add-none", None), ("#oob", "#side")]
)
def test_an_htmx_post_fires_its_event_once_with_the_views_id(
    pixel_page: Page, shop: tuple[str, list[str]], button: str, shown: str | None
) -> None:
    url, ids = shop
    pixel_page.goto(url + "/")
    expect_pixel(pixel_page).to_have_made("load", "page", "identify")
    before = len(ids)
    pixel_page.click(button)
    event_id = last_id(ids, pixel_page, before + 1)
    if shown:
        expect(pixel_page.locator(shown)).to_contain_text(event_id)
    expect_pixel(pixel_page).to_have_tracked(
        "AddToCart", times=1, event_id=event_id, content_id="mug", value=12.5
    )
    # No second bootstrap and no second page view: only the event was added.
    assert methods(pixel_page) == ["load", "page", "identify", "track"]
    assert recorder_for(pixel_page).sdk_loads() == [CODE]


def test_an_htmx_error_response_still_fires_its_event(
    pixel_page: Page, shop: tuple[str, list[str]]
) -> None:
    url, ids = shop
    pixel_page.goto(url + "/")
    before = len(ids)
    pixel_page.click("#fail")
    event_id = last_id(ids, pixel_page, before + 1)
    expect_pixel(pixel_page).to_have_tracked("ClickButton", times=1, event_id=event_id)
    expect(pixel_page.locator("#out")).to_have_text("")  # htmx does not swap a 422


def test_fetch_from_response_fires_the_event_once(
    pixel_page: Page, shop: tuple[str, list[str]]
) -> None:
    url, ids = shop
    pixel_page.goto(url + "/")
    pixel_page.click("#fetch")
    expect(pixel_page.locator("#fetched")).not_to_have_text("")
    event_id = pixel_page.locator("#fetched").inner_text()
    assert event_id == last_id(ids)
    expect_pixel(pixel_page).to_have_tracked("AddToCart", times=1, event_id=event_id)
    # Reading the same response again changes nothing.
    pixel_page.evaluate(
        "() => fetch('/nothing').then(pixelEmbed.fromResponse).then(pixelEmbed.fromResponse)"
    )
    assert methods(pixel_page).count("track") == 1


def test_a_fragment_runs_its_calls_once_when_inserted(
    pixel_page: Page, shop: tuple[str, list[str]]
) -> None:
    url, ids = shop
    pixel_page.goto(url + "/")
    before = len(ids)
    pixel_page.click("#fragment")
    event_id = last_id(ids, pixel_page, before + 1)
    expect(pixel_page.locator("#out")).to_contain_text(event_id)
    expect_pixel(pixel_page).to_have_tracked("AddToCart", times=1, event_id=event_id)
    # The data block left the page once it ran: copying the page's HTML cannot run it again.
    assert pixel_page.locator("script[data-pixel-embed-calls]").count() == 0
    pixel_page.evaluate("() => { document.body.innerHTML += ''; }")
    pixel_page.wait_for_timeout(100)
    assert methods(pixel_page).count("track") == 1


def test_a_double_click_is_two_requests_with_two_ids(
    pixel_page: Page, shop: tuple[str, list[str]]
) -> None:
    url, ids = shop
    pixel_page.goto(url + "/")
    pixel_page.dblclick("#add-none")
    expect_pixel(pixel_page).to_have_tracked("AddToCart", times=2)
    fired = track_ids(pixel_page, "AddToCart")
    assert len(set(fired)) == 2
    assert set(fired) == set(ids[-2:])


def test_hx_boost_fires_each_pages_events_once_without_a_second_page_view(
    pixel_page: Page, shop: tuple[str, list[str]]
) -> None:
    url, ids = shop
    page = pixel_page
    page.goto(url + "/")
    page.click("#to-a")
    expect(page).to_have_title("a")
    a_id = last_id(ids)
    assert page.url == url + "/a"
    expect_pixel(page).to_have_tracked("ViewContent", times=1, content_id="a", event_id=a_id)
    page.click("#to-b")
    expect(page).to_have_title("b")
    b_id = last_id(ids)
    expect_pixel(page).to_have_tracked("ViewContent", times=1, content_id="b", event_id=b_id)
    page.go_back()
    expect(page).to_have_title("a")
    page.go_forward()
    expect(page).to_have_title("b")
    page.wait_for_timeout(200)
    # One document all along: one bootstrap, one ttq.page() (TikTok's SDK sends the page views
    # of History API navigations itself), each page's event once, /b's identity with it.
    assert methods(page) == ["load", "page", "identify", "track", "identify", "track"]
    expect_pixel(page).to_have_identified(external_id="b-visitor")
    assert track_ids(page, "ViewContent") == [a_id, b_id]
    assert recorder_for(page).sdk_loads() == [CODE]


def test_a_boosted_form_post_fires_its_deferred_event_on_the_page_it_lands_on(
    pixel_page: Page, shop: tuple[str, list[str]]
) -> None:
    url, ids = shop
    page = pixel_page
    page.goto(url + "/")
    before = len(ids)
    page.click("#pay")
    expect(page).to_have_title("a")
    last_id(ids, page, before + 2)
    paid, viewed = ids[before : before + 2]
    expect_pixel(page).to_have_tracked("ViewContent", times=1, event_id=viewed)
    expect_pixel(page).to_have_tracked("CompletePayment", times=1, event_id=paid)
    assert methods(page) == ["load", "page", "identify", "track", "track"]
    assert page.url == url + "/a"


def test_a_blocked_sdk_breaks_nothing(pixel_page: Page, shop: tuple[str, list[str]]) -> None:
    url, _ = shop
    recorder = recorder_for(pixel_page)
    recorder.sdk = "abort"
    try:
        pixel_page.goto(url + "/")
        for button in ("#add", "#add-none", "#oob", "#fail", "#fragment", "#fetch"):
            pixel_page.click(button)
        expect(pixel_page.locator("#fetched")).not_to_have_text("")
        pixel_page.click("#to-a")
        expect(pixel_page).to_have_title("a")
        # The ttq stub queued the calls for an SDK that never came; the page kept working.
        # (/a's calls run once htmx has settled the page, a moment after its title changed.)
        count = "() => window.ttq.filter(c => c[0] === 'track').length"
        pixel_page.wait_for_function(f"() => ({count})() >= 7")
        pixel_page.wait_for_timeout(300)
        assert pixel_page.evaluate(count) == 7  # six clicks, and /a's ViewContent
        assert recorder.errors == []
        # What the stub queued is still readable, with nothing sent by an SDK.
        assert [call.event for call in pixel_calls(pixel_page) if call.event].count(
            "ViewContent"
        ) == 1
    finally:
        recorder.sdk = "serve"


def test_responses_before_the_client_script_arrives_are_read_when_it_does(
    pixel_page: Page, shop: tuple[str, list[str]]
) -> None:
    url, ids = shop
    held: list[Route] = []
    pixel_page.route("**/_pixel_embed/pixel_embed_partial.js*", lambda route: held.append(route))
    # The page is parsed and DOMContentLoaded over with the client script still on its way.
    pixel_page.goto(url + "/", wait_until="domcontentloaded")
    for _ in range(100):
        if held:
            break
        pixel_page.wait_for_timeout(20)
    assert len(held) == 1
    before = len(ids)
    pixel_page.click("#add-none")
    htmx_id = last_id(ids, pixel_page, before + 1)
    pixel_page.click("#fetch")
    expect(pixel_page.locator("#fetched")).not_to_have_text("")
    fetch_id = pixel_page.locator("#fetched").inner_text()
    assert fetch_id != htmx_id
    assert methods(pixel_page).count("track") == 0  # kept by the loader
    held[0].continue_()
    expect_pixel(pixel_page).to_have_tracked("AddToCart", times=1, event_id=htmx_id)
    expect_pixel(pixel_page).to_have_tracked("AddToCart", times=1, event_id=fetch_id)
    # From now on the client script reads each response itself, once.
    pixel_page.click("#add-none")
    expect_pixel(pixel_page).to_have_tracked("AddToCart", times=3)
    pixel_page.wait_for_timeout(200)
    assert track_ids(pixel_page, "AddToCart") == [htmx_id, fetch_id, ids[-1]]
    assert pixel_page.evaluate("() => [pixelEmbed._early, pixelEmbed._keep]") == [None, None]


@pytest.fixture(scope="module")
def nonce_only_csp_shop() -> Iterator[tuple[str, list[str]]]:
    with running_partial_shop(STRICT_CSP="nonce-only") as running:
        yield running


def test_the_client_script_gets_the_nonce_where_only_the_nonce_trusts_it(
    pixel_page: Page, nonce_only_csp_shop: tuple[str, list[str]]
) -> None:
    url, _ = nonce_only_csp_shop
    pixel_page.goto(url + "/")
    for button in ("#add", "#fragment", "#fetch"):
        pixel_page.click(button)
    expect(pixel_page.locator("#fetched")).not_to_have_text("")
    expect_pixel(pixel_page).to_have_tracked("AddToCart", times=3)
    # (No hx-boost here: htmx runs a boosted page's inline scripts, whose nonce is not the
    # page's, and only 'strict-dynamic' trusts what htmx inserts.)
    assert pixel_page.evaluate("() => window.violations || []") == []


@pytest.fixture(scope="module")
def strict_csp_shop() -> Iterator[tuple[str, list[str]]]:
    with running_partial_shop(STRICT_CSP=True) as running:
        yield running


def test_strict_csp_every_mechanism_without_a_violation(
    pixel_page: Page, strict_csp_shop: tuple[str, list[str]]
) -> None:
    url, ids = strict_csp_shop
    page = pixel_page
    page.goto(url + "/")
    for button in ("#add", "#fragment", "#fetch"):
        page.click(button)
    expect(page.locator("#fetched")).not_to_have_text("")
    page.click("#to-a")
    expect(page).to_have_title("a")
    expect_pixel(page).to_have_tracked("ViewContent", times=1, event_id=last_id(ids))
    expect_pixel(page).to_have_tracked("AddToCart", times=3)
    assert page.evaluate("() => window.violations || []") == []


# -- consent -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict_shop() -> Iterator[tuple[str, list[str]]]:
    with running_partial_shop(TIKTOK_PIXEL_CONSENT="strict") as running:
        yield running


@pytest.fixture(scope="module")
def hold_shop() -> Iterator[tuple[str, list[str]]]:
    with running_partial_shop(TIKTOK_PIXEL_CONSENT="hold") as running:
        yield running


def test_strict_consent_holds_partial_calls_until_granted(
    pixel_page: Page, strict_shop: tuple[str, list[str]]
) -> None:
    url, ids = strict_shop
    page = pixel_page
    page.goto(url + "/")
    page.click("#add-none")
    page.click("#fetch")
    expect(page.locator("#fetched")).not_to_have_text("")
    page.wait_for_timeout(200)
    # Nothing requested from TikTok, nothing called, before the visitor's choice.
    assert recorder_for(page).sdk_requests == []
    assert pixel_calls(page) == []
    page.evaluate("() => window.pixelEmbed.grantConsent()")
    expect_pixel(page).to_have_tracked("AddToCart", times=2)
    assert set(track_ids(page, "AddToCart")) == set(ids[-2:])
    assert methods(page)[:3] == ["load", "page", "identify"]
    # After the choice, calls run at once.
    page.click("#add")
    expect_pixel(page).to_have_tracked("AddToCart", times=3)


def test_strict_consent_declined_drops_partial_calls(
    pixel_page: Page, strict_shop: tuple[str, list[str]]
) -> None:
    url, _ = strict_shop
    page = pixel_page
    page.goto(url + "/")
    page.click("#add-none")
    page.wait_for_timeout(200)
    page.evaluate("() => window.pixelEmbed.revokeConsent()")
    page.click("#add")
    page.wait_for_timeout(300)
    assert recorder_for(page).sdk_requests == []
    assert page.evaluate("() => window.ttq.filter(c => c[0] === 'track').length") == 0


def test_hold_consent_passes_calls_to_the_sdk_which_holds_them(
    pixel_page: Page, hold_shop: tuple[str, list[str]]
) -> None:
    url, ids = hold_shop
    page = pixel_page
    page.goto(url + "/")
    before = len(ids)
    page.click("#add-none")
    event_id = last_id(ids, page, before + 1)
    expect_pixel(page).to_have_tracked("AddToCart", times=1, event_id=event_id)
    assert methods(page) == ["load", "holdConsent", "page", "identify", "track"]
    page.evaluate("() => window.pixelEmbed.grantConsent()")
    expect_pixel(page).to_have_called("grantConsent")


def test_a_count_after_an_in_page_action_waits_for_late_calls(
    pixel_page: Page, shop: tuple[str, list[str]]
) -> None:
    url, _ = shop
    page = pixel_page
    page.goto(url + "/")
    expect_pixel(page).to_have_made("load", "page", "identify")
    page.evaluate("() => { ttq.track('Late'); setTimeout(() => ttq.track('Late'), 250); }")
    with pytest.raises(AssertionError, match="1 time"):
        expect_pixel(page).to_have_tracked("Late", times=1)
    assert [c.event for c in pixel_calls(page)][-2:] == ["Late", "Late"]


# Names every plain object inherits (issue 24, finding 5): as event ids, each is an event like
# any other; as methods, none is called.
INHERITED = ["constructor", "toString", "__proto__", "hasOwnProperty", "valueOf"]


def test_event_ids_and_methods_named_like_object_properties(
    pixel_page: Page, shop: tuple[str, list[str]]
) -> None:
    url, _ = shop
    pixel_page.goto(url + "/")
    expect_pixel(pixel_page).to_have_made("load", "page", "identify")
    calls = [["track", ["ClickButton", {}, {"event_id": name}]] for name in INHERITED]
    calls += [[name, ["ClickButton", {}, {"event_id": "m-" + name}]] for name in INHERITED]
    calls += [["track", ["ClickButton", {}, {"event_id": "constructor"}]]]  # a repeat
    ran = pixel_page.evaluate(
        """(calls) => new Promise((resolve) => {
            document.addEventListener("pixelEmbed:calls", (e) => resolve(e.detail.calls));
            const block = document.createElement("script");
            block.type = "application/json";
            block.setAttribute("data-pixel-embed-calls", "");
            block.textContent = JSON.stringify(calls);
            document.body.appendChild(block);
        })""",
        calls,
    )
    assert [call[1][2]["event_id"] for call in ran] == INHERITED
    expect_pixel(pixel_page).to_have_tracked("ClickButton", times=len(INHERITED))
    assert track_ids(pixel_page, "ClickButton") == INHERITED
    assert methods(pixel_page) == ["load", "page", "identify", *["track"] * len(INHERITED)]
