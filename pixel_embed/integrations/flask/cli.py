"""``flask tiktok-pixel …``: the ``pixel-embed`` command inside a Flask app (its settings as
defaults), and the server-event commands (``events …``).

Registered in every Flask app of the environment through the ``flask.commands`` entry point,
as Flask-Migrate adds ``flask db``.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from ...cli import main
from .commands import events_cli

_PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True}


@click.group("tiktok-pixel")
def flask_cli() -> None:
    """The TikTok pixel: audit pages, print the snippet, hash identifiers."""


def _app_snippet_options() -> list[str]:
    config = current_app.config
    codes = config.get("TIKTOK_PIXEL_CODE") or ()
    options = [
        part for code in ([codes] if isinstance(codes, str) else codes) for part in ("--code", code)
    ]
    if config.get("TIKTOK_PIXEL_LDU"):
        options.append("--ldu")
    if config.get("TIKTOK_PIXEL_CONSENT", "none") != "none":
        options += ["--consent", config["TIKTOK_PIXEL_CONSENT"]]
    return options


@flask_cli.command("snippet", context_settings=_PASS_THROUGH, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
@with_appcontext
def _flask_snippet(ctx: click.Context, args: tuple[str, ...]) -> None:
    """Print the pixel snippet; the app's TIKTOK_PIXEL_* settings unless --code is given."""
    given = list(args)
    if not any(arg == "--code" or arg.startswith("--code=") for arg in given):
        given = [*_app_snippet_options(), *given]
    ctx.exit(main(["snippet", *given], prog="flask tiktok-pixel"))


@flask_cli.command("audit", context_settings=_PASS_THROUGH, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def _flask_audit(ctx: click.Context, args: tuple[str, ...]) -> None:
    """Audit pages' pixel in headless Chromium (see --help)."""
    ctx.exit(main(["audit", *args], prog="flask tiktok-pixel"))


@flask_cli.command("hash", context_settings=_PASS_THROUGH, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
@with_appcontext
def _flask_hash(ctx: click.Context, args: tuple[str, ...]) -> None:
    """Print an identifier normalised and hashed; phone numbers read with the app's
    TIKTOK_PIXEL_DEFAULT_REGION unless --region is given."""
    given = list(args)
    region = current_app.config.get("TIKTOK_PIXEL_DEFAULT_REGION")
    if region and "--phone" in given and not any(a.startswith("--region") for a in given):
        given += ["--region", region]
    ctx.exit(main(["hash", *given], prog="flask tiktok-pixel"))


flask_cli.add_command(events_cli)
