"""Every ```python example of the documentation runs, so no page can drift from the code.

Each page (docs/*.md and README.md) runs its ```python blocks in order, in one namespace, in
a temporary working directory. ```py blocks are shown highlighted but not run: they need a live
site, a browser or a worker. The Sphinx build itself (warnings as errors) is `make docs-check`,
part of `make test`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
# Pages whose examples set up a framework once per process (Django's settings) run in a fresh
# interpreter, as a module of their own (so that ROOT_URLCONF = __name__ works).
OWN_PROCESS = {"django.md"}
_CHILD = """
import sys, types
sys.path.insert(0, sys.argv[2])
from test_docs import python_blocks
page = sys.argv[1]
module = sys.modules["docs_page"] = types.ModuleType("docs_page")
for line, code in python_blocks(open(page, encoding="utf-8").read()):
    try:
        exec(compile(code, f"{page}:{line}", "exec"), module.__dict__)
    except Exception as exc:
        sys.exit(f"the block at line {line}: {exc!r}")
"""
# A fence opens with ``` (or more backticks) and a language, and closes with the same fence.
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,})(?P<info>[^`\n]*)\n", re.MULTILINE)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """The ```python blocks of a Markdown page: (line number, code), in order."""
    blocks = []
    position = 0
    while (start := _FENCE.search(text, position)) is not None:
        closing = re.compile(rf"^[ \t]*{start['fence']}[ \t]*$", re.MULTILINE)
        end = closing.search(text, start.end())
        if end is None:
            raise AssertionError(
                f"unclosed code fence at line {text.count(chr(10), 0, start.start()) + 1}"
            )
        if start["info"].strip().split(" ")[0] == "python":
            indent = len(start["indent"])
            body = text[start.end() : end.start()]
            code = "\n".join(line[indent:] for line in body.splitlines())
            blocks.append((text.count("\n", 0, start.end()) + 1, code))
        position = end.end()
    return blocks


def test_python_blocks_are_found_and_others_are_not() -> None:
    page = "a\n```python\nx = 1\n```\n```py\nnot run\n```\n````md\n```python\nno\n```\n````\n"
    assert python_blocks(page) == [(3, "x = 1")]


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_the_examples_of_each_page_run(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    if page.name in OWN_PROCESS:
        child = [sys.executable, "-c", _CHILD, str(page), str(Path(__file__).parent)]
        done = subprocess.run(child, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{page.name}: {done.stderr.strip()[-3000:]}"
        return
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for line, code in python_blocks(page.read_text(encoding="utf-8")):
        try:
            exec(compile(code, f"{page.name}:{line}", "exec"), namespace)
        except Exception as exc:  # the page and line, then the error as it came
            raise AssertionError(f"{page.name}, the block at line {line}: {exc!r}") from exc
