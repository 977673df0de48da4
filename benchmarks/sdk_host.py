"""TikTok's hosts on 127.0.0.1 for the real-SDK benchmark: the SDK from its local copy, the
beacons answered and kept.

Chromium reaches it as ``https://analytics.tiktok.com`` (and TikTok's IPv6 enrichment host)
through ``--host-resolver-rules``, over TLS with a certificate made for the run and trusted by
its key (``--ignore-certificate-errors-spki-list``), so the browser sees a valid HTTPS origin.
A real server, not Playwright's routing, because routing turns Chromium's HTTP cache off, and
a repeat visit (HTTP and code cache warm) is half of what is measured.

What is served and how beacons are read is the QA kit's (:class:`~pixel_embed.browser.sdk.
SdkFiles`, the loader rewritten to the requested ``?sdkid=``; :class:`~pixel_embed.browser.wire.
WireEvent`); this module only carries them over HTTPS. The SDK's files come from
``PIXEL_EMBED_SDK_DIR``, else ``<repo>/../shared/tiktok-sdk`` (see its PROVENANCE.md), read at
run time and never copied into the repository. Responses are gzip-compressed when the browser
accepts it, as TikTok's CDN does, with a CDN's cache lifetimes: a few minutes for the loader, a
year for the hashed bundles.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pixel_embed.browser.sdk import LOADER_PATH, PIXEL_CODE, SdkFiles, find_sdk_dir
from pixel_embed.browser.wire import WireEvent

ROOT = Path(__file__).resolve().parent.parent
#: The hosts the SDK talks to, all answered here.
HOSTS = ("analytics.tiktok.com", "analytics-ipv6.tiktokw.us")
_JS = "application/javascript; charset=utf-8"


def sdk_dir() -> Path | None:
    """The folder holding TikTok's SDK copy: ``PIXEL_EMBED_SDK_DIR``, else
    ``<repo>/../shared/tiktok-sdk``; ``None`` when neither holds one."""
    return find_sdk_dir(ROOT.parent / "shared" / "tiktok-sdk")


@dataclass
class SdkHost:
    """The running host: its port, the Chromium flags that reach it, what it received."""

    port: int
    spki: str
    beacons: list[WireEvent] = field(default_factory=list)
    bytes_sent: int = 0

    def chromium_args(self) -> list[str]:
        """Flags sending TikTok's hosts here, no other outside name anywhere, and trusting the
        run's certificate."""
        rules = ", ".join(f"MAP {host} 127.0.0.1:{self.port}" for host in HOSTS)
        return [
            f"--host-resolver-rules={rules}, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--ignore-certificate-errors-spki-list={self.spki}",
        ]

    def beacons_for(self, marker: str) -> list[WireEvent]:
        """The beacons sent from pages whose URL holds ``marker``."""
        return [beacon for beacon in list(self.beacons) if marker in beacon.page_url]


def _certificate(folder: Path) -> tuple[Path, Path, str]:
    """A self-signed certificate for :data:`HOSTS` (openssl), and its key's SPKI digest."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    names = ",".join(f"DNS:{host}" for host in HOSTS)
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", f"/CN={HOSTS[0]}"),
            *("-addext", f"subjectAltName={names}"),
        ],
        check=True,
        capture_output=True,
    )
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    public = subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-noout", "-pubkey"],
        input=der,
        check=True,
        capture_output=True,
    ).stdout
    spki_der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "DER"],
        input=public,
        check=True,
        capture_output=True,
    ).stdout
    return cert, key, base64.b64encode(hashlib.sha256(spki_der).digest()).decode()


def _handler(folder: Path, host: SdkHost) -> type[BaseHTTPRequestHandler]:
    files = SdkFiles(folder)
    cache: dict[tuple[str, str, str, bool], bytes | None] = {}
    lock = threading.Lock()

    def body_of(name: str, path: str, code: str, compressed: bool) -> bytes | None:
        key = (name, path, code, compressed)
        with lock:
            if key not in cache:
                text = files.body_for(name, path, code or None)
                data = None if text is None else text.encode("utf-8")
                cache[key] = gzip.compress(data, 6) if data and compressed else data
            return cache[key]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Timing-Allow-Origin", "*")
            self.end_headers()
            self.wfile.write(body)
            host.bytes_sent += len(body)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            code = parse_qs(parts.query).get("sdkid", [""])[0]
            compressed = "gzip" in self.headers.get("Accept-Encoding", "")
            name = (self.headers.get("Host") or "").split(":")[0]
            valid = PIXEL_CODE.fullmatch(code) is not None
            body = body_of(name, parts.path, code if valid else "", compressed)
            if body is None:
                self._send(204, b"", {})
                return
            headers = {
                "Content-Type": _JS,
                "Cache-Control": "public, max-age="
                + ("300" if parts.path == LOADER_PATH else "31536000"),
            }
            if compressed:
                headers["Content-Encoding"] = "gzip"
            self._send(200, body, headers)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            name = self.headers.get("Host") or HOSTS[0]
            text = raw.decode("utf-8", "replace")
            host.beacons.append(WireEvent.from_beacon(f"https://{name}{self.path}", text))
            origin = self.headers.get("Origin") or "*"
            self._send(
                200,
                b'{"code":0,"message":"OK"}',
                {
                    "Content-Type": "application/json",
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Credentials": "true",
                },
            )

        def do_OPTIONS(self) -> None:
            self._send(
                204,
                b"",
                {
                    "Access-Control-Allow-Origin": self.headers.get("Origin") or "*",
                    "Access-Control-Allow-Credentials": "true",
                    "Access-Control-Allow-Headers": "content-type",
                    "Access-Control-Allow-Methods": "POST, GET",
                },
            )

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A page that leaves closes its connections mid-answer: nothing to report."""


@contextmanager
def sdk_host(folder: Path) -> Iterator[SdkHost]:
    """TikTok's hosts served from ``folder`` on a free port of 127.0.0.1 until the block ends."""
    with tempfile.TemporaryDirectory(prefix="pixel-embed-bench-") as temporary:
        cert, key, spki = _certificate(Path(temporary))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server = _Server(("127.0.0.1", 0), BaseHTTPRequestHandler)
        host = SdkHost(port=server.server_address[1], spki=spki)
        server.RequestHandlerClass = _handler(folder, host)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, name="benchmark-sdk-host")
        thread.start()
        try:
            yield host
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
