"""The session cookie Starlette writes for the pixel: at its fullest (every deferred event the
budget keeps, a carried identity, every once key) it stays below the 4 KB browsers keep, though
Starlette, unlike Flask, does not compress what it signs."""

from __future__ import annotations

import pytest
from asgi_support import KINDS, Kind, endpoint, served, site
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

#: What browsers keep of one cookie (name, value and attributes), RFC 6265's least.
COOKIE_LIMIT = 4096


@pytest.mark.parametrize("kind", KINDS)
def test_the_fullest_session_cookie_stays_below_4_kb(kind: Kind) -> None:
    app, pixel = site(kind)

    def fill(request: Request) -> Response:
        pixel.identify(
            email="a.very.long.name.indeed@subdomain.example.com",
            phone_number="+12133734253",
            external_id="customer-0000000000000000000000000000000000000001",
            first_name="Maximiliana",
            last_name="Featherstonehaugh",
            city="San Francisco",
            state="CA",
            country="US",
            zip_code="94107",
            defer=True,
        )
        for number in range(40):
            pixel.track(
                "CompletePayment",
                value=1234.56,
                currency="USD",
                order_id=f"ORDER-{number:030d}",
                description="x" * 60,
                contents=[{"content_id": f"SKU-{number:020d}", "quantity": 3, "price": 9.99}],
                defer=True,
                once=f"order-{number}",
            )
        return PlainTextResponse("filled")

    app.router.routes.insert(0, Route("/fill", endpoint(fill, kind)))
    with served(app) as client:
        for _ in range(3):  # later requests add to what waits
            answer = client.get("/fill")
            [cookie] = answer.headers.get_list("set-cookie")
            assert len(cookie) < COOKIE_LIMIT, len(cookie)
        thanks = client.get("/thanks")
    # What the budget kept fires on the next page: the newest events, the identity.
    assert thanks.text.count('"CompletePayment"') >= 1
    assert "ttq.identify(" in thanks.text
