"""The blueprint that serves the partial-pages client script (see :mod:`pixel_embed.partial`)."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, request, url_for

from ...partial import SCRIPT, SCRIPT_NAME, SCRIPT_VERSION, script_cache_control

#: The endpoint of the client script.
SCRIPT_ENDPOINT = "pixel_embed_partial.script"


def register_script(app: Flask) -> None:
    """Serve the client script at ``/_pixel_embed/<SCRIPT_NAME>``."""
    blueprint = Blueprint("pixel_embed_partial", __name__, url_prefix="/_pixel_embed")
    blueprint.add_url_rule(f"/{SCRIPT_NAME}", "script", _serve_script)
    app.register_blueprint(blueprint)


def script_url() -> str:
    """The client script's URL, with its version (cached for a year)."""
    return url_for(SCRIPT_ENDPOINT, v=SCRIPT_VERSION)


def _serve_script() -> Response:
    response = Response(SCRIPT, mimetype="text/javascript")
    response.headers["Cache-Control"] = script_cache_control(request.args.get("v"))
    response.set_etag(SCRIPT_VERSION)
    response.make_conditional(request)
    return response
