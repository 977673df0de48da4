"""Identities TikTok's SDK collects by itself (automatic advanced matching): on a CRM-style
"new contact" form it hashes the *contact's* e-mail and attaches it to the visitor's events.
``pixel_page`` reports them, as the audit does, and a test can fail on them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import CODE, make_app
from flask import Flask
from playwright.sync_api import Page
from sdk_support import raw_page

from pixel_embed.browser.pii import AutoCollectedIdentity
from pixel_embed.testing import expect_pixel, serve_app
from pixel_embed.testing.plugin import report_auto_collected

NEW_CONTACT = (
    '<form method="post"><label>Contact e-mail <input type="email" name="email" '
    'value="contact@example.com"></label><button type="submit">Add contact</button></form>'
)


def crm() -> Flask:
    app = make_app()

    @app.route("/contacts/new", methods=["GET", "POST"])
    def new_contact() -> str:
        return raw_page("", codes=(CODE,)).replace("<body>ok", "<body>" + NEW_CONTACT)

    @app.get("/plain")
    def plain() -> str:
        return raw_page("ttq.track('ViewContent', {value: 1, currency: 'USD'});", codes=(CODE,))

    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_app(crm()) as url:
        yield url


@pytest.mark.pixel_sdk("real")
def test_an_identity_the_sdk_collected_from_a_form_is_reported_and_can_fail_a_test(
    pixel_page: Page, base_url: str
) -> None:
    pixel_page.goto(base_url + "/contacts/new")
    with pixel_page.expect_navigation():
        pixel_page.get_by_role("button", name="Add contact").click()
    with pytest.raises(AssertionError) as caught:
        expect_pixel(pixel_page).not_to_have_auto_collected()
    assert "TikTok's SDK collected an e-mail address from the page by itself" in str(caught.value)
    assert "automatic advanced matching off" in str(caught.value)
    with pytest.warns(AutoCollectedIdentity, match="collected an e-mail address"):
        report_auto_collected(pixel_page)


@pytest.mark.pixel_sdk("real")
def test_a_page_without_a_form_collects_nothing(pixel_page: Page, base_url: str) -> None:
    pixel_page.goto(base_url + "/plain")
    expect_pixel(pixel_page).to_have_sent("ViewContent")
    expect_pixel(pixel_page).not_to_have_auto_collected()
