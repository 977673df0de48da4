"""Read values out of a Segment message by path: ``$.properties.products[0].price``.

The small subset of JSONPath that Segment's mappings use (``@path``): ``$`` is the message (or,
inside an ``@arrayPath`` item, the item), ``.name`` reads a key, ``[n]`` an element of a list and
``["a key"]`` a key that is not a plain name. A path that leads nowhere reads as :data:`MISSING`;
reading never raises.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

#: A path step: a key of a mapping, or an index into a list.
Step = str | int


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


#: What a path reads when it leads nowhere (``None`` values read as missing too, as in Segment,
#: where ``null`` and an absent key both make ``@if: exists`` false).
MISSING: Final = _Missing()

_STEP = re.compile(
    r"""\.(?P<name>[A-Za-z0-9_$@-]+)      # .name
      | \[(?P<index>-?\d+)\]               # [0]
      | \[(?P<q>["'])(?P<key>.*?)(?P=q)\]  # ["a key"]
    """,
    re.VERBOSE,
)


class InvalidPath(ValueError):
    """A path is not of the form ``$.a.b[0]``; the message says where it goes wrong."""


@functools.lru_cache(maxsize=512)
def parse_path(path: str) -> tuple[Step, ...]:
    """The steps of ``path`` (``"$.products[0].price"`` → ``("products", 0, "price")``).

    :raises InvalidPath: the text is not a path.
    """
    if not isinstance(path, str) or not path.startswith("$"):
        raise InvalidPath(f"{path!r} is not a path: it starts with '$', as in '$.properties.x'")
    steps: list[Step] = []
    position = 1
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            raise InvalidPath(
                f"{path!r} is not a path: cannot read {path[position:]!r} "
                '(write .name, [0] or ["a key"])'
            )
        if match["name"] is not None:
            steps.append(match["name"])
        elif match["index"] is not None:
            steps.append(int(match["index"]))
        else:
            steps.append(match["key"])
        position = match.end()
    return tuple(steps)


def read_path(data: object, path: str) -> Any:
    """The value at ``path`` in ``data``, or :data:`MISSING`.

    :raises InvalidPath: ``path`` itself is malformed (mappings are checked at start-up, so
        this only happens for paths never validated).
    """
    value: Any = data
    for step in parse_path(path):
        if isinstance(step, int):
            if isinstance(value, str) or not isinstance(value, Sequence):
                return MISSING
            try:
                value = value[step]
            except IndexError:
                return MISSING
        else:
            if not isinstance(value, Mapping) or step not in value:
                return MISSING
            value = value[step]
        if value is None:
            return MISSING
    return value
