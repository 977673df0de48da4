"""``python -m demo_site``: run the demo shop on 127.0.0.1 (what ``make demo`` does)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from werkzeug.serving import run_simple

from pixel_embed.render import CONSENT_MODES

from .app import create_app

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo_site",
        description="Run Pixel & Co., the pixel_embed demo shop, on this machine.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on")
    parser.add_argument(
        "--consent",
        choices=CONSENT_MODES,
        help="TIKTOK_PIXEL_CONSENT: none, hold (the default) or strict",
    )
    parser.add_argument(
        "--inspector",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="show the pixel inspector panel on every page (TIKTOK_PIXEL_DEBUG)",
    )
    parser.add_argument(
        "--strict-csp",
        action="store_true",
        help="send a strict nonce-based Content-Security-Policy (DEMO_STRICT_CSP)",
    )
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The app config the command line asks for (options left out keep their defaults)."""
    config: dict[str, Any] = {"TIKTOK_PIXEL_DEBUG": args.inspector}
    if args.consent is not None:
        config["TIKTOK_PIXEL_CONSENT"] = args.consent
    if args.strict_csp:
        config["DEMO_STRICT_CSP"] = True
    return config


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    app = create_app(config_from_args(args))
    settings = ", ".join(
        f"{key}={app.config[key]!r}"
        for key in ("TIKTOK_PIXEL_CODE", "TIKTOK_PIXEL_CONSENT", "TIKTOK_PIXEL_DEBUG")
    )
    print(f"Pixel & Co. demo shop: http://{args.host}:{args.port}/", flush=True)
    print(f"  {settings}, DEMO_STRICT_CSP={app.config['DEMO_STRICT_CSP']!r}", flush=True)
    print("  log in as jane@example.com / pixel-demo; Ctrl+C stops it", flush=True)
    if args.host not in LOOPBACK:
        print("  warning: the demo's SECRET_KEY is public: keep it off shared networks", flush=True)
    # run_simple, not app.run: app.run does nothing when FLASK_RUN_FROM_CLI is set.
    run_simple(args.host, args.port, app, threaded=True)


if __name__ == "__main__":
    main()
