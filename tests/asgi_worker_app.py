"""The app that ``uvicorn asgi_worker_app:app --workers N`` serves in the worker tests: each
``/buy/<id>`` tracks a purchase for the Events API, which waits in the queue named by the
environment (``ASGI_TEST_QUEUE``, an outbox path or ``memory``) and goes to the fake Events API
at ``ASGI_TEST_API_URL``.

``app`` is also what ``pixel-embed events --app asgi_worker_app:app`` opens in the command tests.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from pixel_embed.integrations.starlette import PixelMiddleware, TikTokPixel
from pixel_embed.testing.events_api import FAKE_ACCESS_TOKEN

CODE = "CABCDE1234567890ABCD"
#: The fake Events API's token, as the test that started this process passes it on.
TOKEN = os.environ.get("ASGI_TEST_TOKEN", FAKE_ACCESS_TOKEN)

pixel = TikTokPixel(
    {
        "TIKTOK_PIXEL_CODE": CODE,
        "TIKTOK_PIXEL_ACCESS_TOKEN": TOKEN,
        "TIKTOK_PIXEL_EVENTS_API_URL": os.environ.get(
            "ASGI_TEST_API_URL", "http://127.0.0.1:9/open_api/v1.3/event/track/"
        ),
        "TIKTOK_PIXEL_EVENTS_API_BACKOFF": 0.01,
        "TIKTOK_PIXEL_EVENTS_API_TIMEOUT": 20.0,
        "TIKTOK_PIXEL_EVENTS_QUEUE": os.environ.get("ASGI_TEST_QUEUE", "memory"),
        "TIKTOK_PIXEL_EVENTS_SHUTDOWN_TIMEOUT": float(
            os.environ.get("ASGI_TEST_SHUTDOWN_TIMEOUT", "10")
        ),
        "TIKTOK_PIXEL_EVENTS_DELIVERY": os.environ.get("ASGI_TEST_DELIVERY", "thread"),
    }
)


async def buy(request: Request) -> PlainTextResponse:
    order = request.path_params["order"]
    pixel.track("CompletePayment", value=1, currency="EUR", event_id=order, server=True)
    # The pid first: the test tells the workers apart by it.
    return PlainTextResponse(f"{os.getpid()} {order}\n{pixel.render()}")


app = Starlette(
    routes=[Route("/buy/{order}", buy)],
    middleware=[Middleware(PixelMiddleware, pixel=pixel)],
)
