"""Where the templates and static files that ship with pixel_embed live.

In a wheel they sit inside the package (``pixel_embed/templates``); in a source checkout (an
editable install) they are the top-level ``templates/`` and ``static/`` beside the package.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"pixel_embed is installed without its {name}/ folder")


#: The folder holding ``pixel_embed/pixel.html`` and ``pixel_embed/macros.html``.
TEMPLATES_DIR: Path = _find("templates")
#: The folder holding the QA recorder script and the demo's offline SDK stand-in.
STATIC_DIR: Path = _find("static")
