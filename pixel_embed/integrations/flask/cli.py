"""``flask tiktok-pixel …``: the ``pixel-embed`` command inside a Flask app (its settings as
defaults), and the server-event commands (``events …``).

Registered in every Flask app of the environment through the ``flask.commands`` entry point,
as Flask-Migrate adds ``flask db``.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from ...cli import EXIT_USAGE, main
from ...core.config import PixelConfig
from ...errors import ConfigurationError
from .commands import events_cli

_PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True}


@click.group("tiktok-pixel")
def flask_cli() -> None:
    """The TikTok pixel: audit pages, print the snippet, hash identifiers."""


def _app_config(*, page: bool) -> PixelConfig:
    """The app's settings, read and checked as its pages read them; with ``page``, the page's
    settings are checked even while ``TIKTOK_PIXEL_ENABLED`` is False (the command prints what
    the page would).

    :raises click.exceptions.Exit: a setting is invalid: the message is printed as ``main``
        prints its own errors, not as a traceback.
    """
    config = current_app.config
    try:
        return PixelConfig.from_mapping(
            {**config, "TIKTOK_PIXEL_ENABLED": True} if page else config
        )
    except ConfigurationError as error:
        click.echo(f"flask tiktok-pixel: {error}", err=True)
        raise click.exceptions.Exit(EXIT_USAGE) from None


def _app_snippet_options() -> list[str]:
    if current_app.config.get("TIKTOK_PIXEL_CODE") is None:
        return []  # the snippet command says that a code is needed
    settings = _app_config(page=True).pixel
    assert settings is not None  # read as enabled
    options = [part for code in settings.codes for part in ("--code", code)]
    if settings.ldu:
        options.append("--ldu")
    if settings.consent != "none":
        options += ["--consent", settings.consent]
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
    if "--phone" in given and not any(a.startswith("--region") for a in given):
        region = _app_config(page=False).region
        if region:
            given += ["--region", region]
    ctx.exit(main(["hash", *given], prog="flask tiktok-pixel"))


flask_cli.add_command(events_cli)
