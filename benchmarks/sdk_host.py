"""TikTok's hosts on 127.0.0.1 for the real-SDK benchmark: the SDK from its local copy, the
beacons answered and kept.

Chromium reaches it as ``https://analytics.tiktok.com`` (and TikTok's IPv6 enrichment host)
through ``--host-resolver-rules``, over TLS with a certificate made for the run and trusted by
its key (``--ignore-certificate-errors-spki-list``), so the browser sees a valid HTTPS origin.
A real server, not Playwright's routing, because routing turns Chromium's HTTP cache off, and
a repeat visit (HTTP and code cache warm) is half of what is measured.

The SDK's files come from ``PIXEL_EMBED_SDK_DIR``, else ``<repo>/../shared/tiktok-sdk`` (see its
PROVENANCE.md); they are read at run time and never copied into the repository. The loader is
built for one pixel code; it is rewritten to the code each request asks for (``?sdkid=``).
Responses are gzip-compressed when the browser accepts it, as TikTok's CDN does, with the
cache lifetimes of a CDN: a few minutes for the loader, a year for the hashed bundles.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
#: The hosts the SDK talks to, all answered here.
HOSTS = ("analytics.tiktok.com", "analytics-ipv6.tiktokw.us")
LOADER_PATH = "/i18n/pixel/events.js"
#: The pixel code the stored loader was built for.
BUILT_FOR = "D2RQS93C77U80VFNBV30"
_TYPES = {".js": "application/javascript; charset=utf-8"}


def sdk_dir() -> Path | None:
    """The folder holding TikTok's SDK copy (``analytics.tiktok.com/…``), or ``None``."""
    configured = os.environ.get("PIXEL_EMBED_SDK_DIR")
    folder = Path(configured) if configured else ROOT.parent / "shared" / "tiktok-sdk"
    return folder if (folder / "analytics.tiktok.com" / LOADER_PATH.lstrip("/")).is_file() else None


@dataclass(frozen=True)
class Beacon:
    """One request the SDK sent: when (``time.monotonic()``), where, and its JSON body."""

    at: float
    path: str
    body: dict[str, Any]

    @property
    def event(self) -> str | None:
        """The event name of a pixel beacon (``Pageview``, ``ViewContent``…)."""
        value = self.body.get("event")
        return value if isinstance(value, str) else None

    @property
    def page_url(self) -> str:
        context = self.body.get("context")
        page = context.get("page") if isinstance(context, dict) else None
        url = page.get("url") if isinstance(page, dict) else None
        return url if isinstance(url, str) else ""


@dataclass
class SdkHost:
    """The running host: its port, the Chromium flags that reach it, what it received."""

    port: int
    spki: str
    beacons: list[Beacon] = field(default_factory=list)
    bytes_sent: int = 0

    def chromium_args(self) -> list[str]:
        """Flags sending TikTok's hosts here, no other outside name anywhere, and trusting the
        run's certificate."""
        rules = ", ".join(f"MAP {host} 127.0.0.1:{self.port}" for host in HOSTS)
        return [
            f"--host-resolver-rules={rules}, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--ignore-certificate-errors-spki-list={self.spki}",
        ]

    def beacons_for(self, marker: str) -> list[Beacon]:
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
    files = folder / "analytics.tiktok.com"
    cache: dict[tuple[str, str, bool], bytes] = {}
    lock = threading.Lock()

    def body_of(path: str, code: str, compressed: bool) -> bytes | None:
        key = (path, code, compressed)
        with lock:
            if key not in cache:
                file = (files / path.lstrip("/")).resolve()
                if files.resolve() not in file.parents or not file.is_file():
                    return None
                data = file.read_bytes()
                if path == LOADER_PATH and code:
                    data = data.replace(BUILT_FOR.encode(), code.encode())
                cache[key] = gzip.compress(data, 6) if compressed else data
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
            body = body_of(parts.path, code if code.isalnum() else "", compressed)
            if body is None:
                self._send(204, b"", {})
                return
            headers = {
                "Content-Type": _TYPES.get(Path(parts.path).suffix, "application/octet-stream"),
                "Cache-Control": "public, max-age="
                + ("300" if parts.path == LOADER_PATH else "31536000"),
            }
            if compressed:
                headers["Content-Encoding"] = "gzip"
            self._send(200, body, headers)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                data = json.loads(raw or b"{}")
            except ValueError:
                data = {}
            body = data if isinstance(data, dict) else {}
            host.beacons.append(Beacon(time.monotonic(), urlsplit(self.path).path, body))
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


@contextmanager
def sdk_host(folder: Path) -> Iterator[SdkHost]:
    """TikTok's hosts served from ``folder`` on a free port of 127.0.0.1 until the block ends."""
    with tempfile.TemporaryDirectory(prefix="pixel-embed-bench-") as temporary:
        cert, key, spki = _certificate(Path(temporary))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
        host = SdkHost(port=server.server_address[1], spki=spki)
        server.RequestHandlerClass = _handler(folder, host)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, name="benchmark-sdk-host")
        thread.start()
        try:
            yield host
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
