from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, render_template_string
from flask.testing import FlaskClient
from markupsafe import Markup

from pixel_embed import TikTokPixel
from pixel_embed.testing.events_api import FakeEventsApi

CODE = "CABCDE1234567890ABCD"
OTHER_CODE = "CZYXWV0987654321ZYXW"
LAYOUT = (
    "<!doctype html><html><head><title>t</title>{{ tiktok_pixel() }}</head>"
    "<body>{{ body }}</body></html>"
)


def make_app(**config: object) -> Flask:
    app = Flask(__name__)
    app.config.update(
        TESTING=True, SECRET_KEY="test", TIKTOK_PIXEL_CODE=CODE, TIKTOK_PIXEL_STRICT=True
    )
    app.config.update(config)
    return app


def refused_url() -> str:
    """A URL on a local port that nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def fake(tiktok_events_api: FakeEventsApi) -> FakeEventsApi:
    """The Events API tests' name for the QA kit's fake Events API."""
    return tiktok_events_api


@pytest.fixture
def app() -> Flask:
    return make_app()


@pytest.fixture
def pixel(app: Flask) -> TikTokPixel:
    return TikTokPixel(app)


@pytest.fixture
def client(app: Flask, pixel: TikTokPixel) -> Iterator[FlaskClient]:
    with app.test_client() as client:
        yield client


def page(body: str = "") -> str:
    """The layout every test app renders: the pixel in <head>."""
    return render_template_string(LAYOUT, body=Markup(body or "ok"))


@pytest.fixture
def sdk_dir() -> Path:
    """TikTok's SDK copy (``PIXEL_EMBED_SDK_DIR``, else ``../shared/tiktok-sdk``), or skip."""
    from sdk_support import real_sdk_dir

    return real_sdk_dir()


@pytest.fixture
def pixel_sdk_dir() -> Path | None:
    """Real-SDK mode's copy for this project: ``PIXEL_EMBED_SDK_DIR``, else CI's
    ``../shared/tiktok-sdk`` (the plugin skips real-SDK tests when neither exists)."""
    from sdk_support import project_sdk_dir

    return project_sdk_dir()
