"""serve_app: any WSGI app on this machine for the block, at a URL a browser can open."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from urllib.error import URLError
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest

from pixel_embed.errors import PixelError
from pixel_embed.testing import serve_app

StartResponse = Callable[[str, list[tuple[str, str]]], object]


def hello(environ: dict[str, object], start_response: StartResponse) -> Iterable[bytes]:
    """A bare WSGI app: no framework."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"hello {environ['PATH_INFO']}".encode()]


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        pytest.param(
            "::1",
            marks=pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here"),
        ),
    ],
)
def test_serves_a_wsgi_app_at_a_url_that_opens(host: str) -> None:
    with serve_app(hello, host=host) as url:
        parts = urlsplit(url)
        assert (parts.scheme, parts.hostname, parts.path) == ("http", host, "")
        assert parts.port is not None  # "http://::1:8000" has none: IPv6 goes in brackets
        with urlopen(f"{url}/page", timeout=5) as response:
            assert response.read() == b"hello /page"
    with pytest.raises(URLError):
        urlopen(f"{url}/page", timeout=2)  # stopped at the end of the block


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "example.com", "192.168.1.10"])
def test_refuses_an_address_other_machines_reach(host: str) -> None:
    served = serve_app(hello, host=host)
    with pytest.raises(PixelError, match=f"serve_app host '{host}' is not a loopback address"):
        served.__enter__()
