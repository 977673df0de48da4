"""``python -m demo_django``: serve the Django demo shop on 127.0.0.1 (``make demo-django``).

With a command, it is the demo's ``manage.py``: ``python -m demo_django tiktok_pixel snippet``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pixel_embed.render import CONSENT_MODES

#: The demo's customers: name, e-mail address, password.
CUSTOMERS = (("jane", "jane@example.com", "pixel-demo"), ("sam", "sam@example.com", "pixel-demo"))


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo_django",
        description="Run Pixel & Co. on Django, the pixel_embed demo shop, on this machine "
        "(or give a manage.py command).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument("--consent", choices=CONSENT_MODES, help="TIKTOK_PIXEL_CONSENT")
    parser.add_argument(
        "--strict-csp", action="store_true", help="django-csp's strict policy with a nonce"
    )
    return parser.parse_args(argv)


def seed_customers() -> None:
    """Create the demo's customers (jane and sam, password ``pixel-demo``) if missing."""
    from django.contrib.auth.models import User

    for name, email, password in CUSTOMERS:
        if not User.objects.filter(username=name).exists():
            User.objects.create_user(name, email, password)


def main(argv: Sequence[str] | None = None) -> None:
    given = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_django.settings")
    if given and not given[0].startswith("-"):  # a manage.py command
        from django.core.management import execute_from_command_line

        execute_from_command_line(["python -m demo_django", *given])
        return
    args = parse_args(given)
    if args.consent:
        os.environ["DEMO_CONSENT"] = args.consent
    if args.strict_csp:
        os.environ["DEMO_STRICT_CSP"] = "1"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    seed_customers()
    print(f"Pixel & Co. on Django: http://{args.host}:{args.port}/", flush=True)
    print("  log in as jane or sam, password pixel-demo; Ctrl+C stops it", flush=True)
    call_command("runserver", f"{args.host}:{args.port}", use_reloader=False)


if __name__ == "__main__":
    main()
