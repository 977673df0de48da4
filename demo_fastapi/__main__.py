"""``python -m demo_fastapi``: run the FastAPI demo shop on 127.0.0.1 (``make demo-fastapi``)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import uvicorn

from pixel_embed.render import CONSENT_MODES

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo_fastapi",
        description="Run Pixel & Co., the pixel_embed demo shop, on FastAPI and uvicorn.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--consent", choices=CONSENT_MODES, help="TIKTOK_PIXEL_CONSENT (default: hold)"
    )
    parser.add_argument(
        "--strict-csp",
        action="store_true",
        help="send a strict nonce-based Content-Security-Policy (DEMO_STRICT_CSP)",
    )
    parser.add_argument(
        "--sync", action="store_true", help="serve the views as def endpoints (DEMO_ENDPOINTS)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    # Through the environment, so that each of uvicorn's worker processes builds the same app.
    if args.consent is not None:
        os.environ["DEMO_FASTAPI_TIKTOK_PIXEL_CONSENT"] = args.consent
    if args.strict_csp:
        os.environ["DEMO_FASTAPI_DEMO_STRICT_CSP"] = "true"
    if args.sync:
        os.environ["DEMO_FASTAPI_DEMO_ENDPOINTS"] = "sync"
    print(f"Pixel & Co. (FastAPI): http://{args.host}:{args.port}/", flush=True)
    print("  log in as jane@example.com / pixel-demo; Ctrl+C stops it", flush=True)
    if args.host not in LOOPBACK:
        print("  warning: the demo's SECRET_KEY is public: keep it off shared networks", flush=True)
    uvicorn.run(
        "demo_fastapi:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
    )


if __name__ == "__main__":
    main()
