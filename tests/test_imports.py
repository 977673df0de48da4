"""No web framework at import: the library, its Events API, the audit and the pytest plugin
import in an environment without Flask, Werkzeug, Playwright, Django or Starlette.

Each check runs in a child Python whose ``sys.meta_path`` refuses those packages (as if they were
not installed) and reports every attempt, with the line of ours that made it, even when the
importing code caught the ``ImportError``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

#: What a plain install must do without.
BLOCKED = ("flask", "werkzeug", "playwright", "django", "starlette")

# Run first in the child: refuse the blocked packages, and print what tried (JSON, last line).
BLOCKER = """
import atexit, importlib.abc, json, sys, traceback

BLOCKED = {blocked!r}
tried = []

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in BLOCKED:
            return None
        ours = [f for f in traceback.extract_stack() if "pixel_embed" in f.filename]
        where = f"{{ours[-1].filename}}:{{ours[-1].lineno}}" if ours else "outside pixel_embed"
        tried.append(f"{{name}} (from {{where}})")
        raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)

sys.meta_path.insert(0, Refuse())
for name in list(sys.modules):
    if name.partition(".")[0] in BLOCKED:
        del sys.modules[name]
atexit.register(lambda: print("\\n" + json.dumps({{"tried": tried}})))
"""


def run_blocked(
    code: str, cwd: Path | None = None, blocked: tuple[str, ...] = BLOCKED
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run ``code`` in a child Python that refuses ``blocked``; return the process and the
    blocked imports it attempted."""
    process = subprocess.run(
        [sys.executable, "-c", BLOCKER.format(blocked=blocked) + code],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    lines = process.stdout.strip().splitlines()
    tried: list[str] = json.loads(lines[-1])["tried"] if lines else ["(the child printed nothing)"]
    return process, tried


def explain(process: subprocess.CompletedProcess[str], tried: list[str]) -> str:
    return (
        "blocked imports attempted:\n  "
        + ("\n  ".join(tried) or "(none)")
        + f"\nexit status {process.returncode}\nstdout:\n{process.stdout[-3000:]}"
        + f"\nstderr:\n{process.stderr[-3000:]}"
    )


def test_the_blocker_refuses_what_it_should() -> None:
    process, tried = run_blocked("import werkzeug\n")
    assert process.returncode != 0
    assert "No module named 'werkzeug' (blocked)" in process.stderr
    assert tried == ["werkzeug (from outside pixel_embed)"]


@pytest.mark.parametrize(
    "modules",
    [
        "pixel_embed",
        "pixel_embed.events_api",
        "pixel_embed.audit",
        "pixel_embed.testing",
        "pixel_embed, pixel_embed.events_api, pixel_embed.audit",
    ],
)
def test_import_needs_no_web_framework(modules: str) -> None:
    process, tried = run_blocked(f"import {modules}\n")
    assert not tried, explain(process, tried)
    assert process.returncode == 0, explain(process, tried)


def test_the_plugin_is_our_entry_point() -> None:
    ours = [ep for ep in entry_points(group="pytest11") if ep.value.startswith("pixel_embed")]
    assert [(ep.name, ep.value) for ep in ours] == [("pixel_embed", "pixel_embed.testing.plugin")]


# pytest in the child, on a bare project: our plugin comes in through its entry point; the other
# plugins of this environment are left out (pytest-playwright needs Playwright by definition).
COLLECT = """
import pytest
from importlib.metadata import entry_points

others = [ep.name for ep in entry_points(group="pytest11") if ep.name != "pixel_embed"]
disabled = [arg for name in others for arg in ("-p", f"no:{name}")]

class Check:
    loaded = False

    def pytest_configure(self, config):
        Check.loaded = config.pluginmanager.has_plugin("pixel_embed")

status = pytest.main(["--co", "-q", "-p", "no:cacheprovider", *disabled], plugins=[Check()])
print("plugin loaded" if Check.loaded else "plugin NOT loaded")
raise SystemExit(int(status))
"""


def test_pytest_collects_a_bare_project_without_web_frameworks(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text(
        "def test_arithmetic():\n    assert 1 + 1 == 2\n", encoding="utf-8"
    )
    process, tried = run_blocked(COLLECT, cwd=tmp_path)
    assert not tried, explain(process, tried)
    assert process.returncode == 0, explain(process, tried)
    assert "plugin loaded" in process.stdout
    assert "test_plain.py::test_arithmetic" in process.stdout


def test_playwright_comes_with_the_first_browser_fixture(tmp_path: Path) -> None:
    """In a full environment: collecting imports no Playwright; the first test that uses
    ``pixel_page`` does."""
    (tmp_path / "conftest.py").write_text(
        "import sys\n\n"
        "def pytest_collection_finish(session):\n"
        "    print('playwright after collection:', 'playwright' in sys.modules)\n",
        encoding="utf-8",
    )
    (tmp_path / "test_page.py").write_text(
        "import sys\n\ndef test_page(pixel_page):\n    assert 'playwright' in sys.modules\n",
        encoding="utf-8",
    )
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-s",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:playwright",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert process.returncode == 0, process.stdout + process.stderr
    assert "playwright after collection: False" in process.stdout


def test_pixel_page_without_playwright_fails_with_what_to_install(tmp_path: Path) -> None:
    (tmp_path / "test_page.py").write_text(
        "def test_page(pixel_page):\n    pixel_page.goto('about:blank')\n", encoding="utf-8"
    )
    process, tried = run_blocked(
        COLLECT.replace('"--co", ', ""), cwd=tmp_path, blocked=("playwright",)
    )
    assert process.returncode == 1, explain(process, tried)
    assert "Playwright is not installed" in process.stdout
    assert "pip install 'pixel-embed[testing]'" in process.stdout
    assert "Traceback" not in process.stdout


def test_serving_an_app_without_werkzeug_says_what_to_install() -> None:
    process, tried = run_blocked(
        "from pixel_embed.testing import serve_app\n"
        "def app(environ, start_response):\n"
        "    return []\n"
        "try:\n"
        "    with serve_app(app):\n"
        "        pass\n"
        "except ModuleNotFoundError as exc:\n"
        "    print(exc)\n",
        blocked=("werkzeug",),
    )
    assert process.returncode == 0, explain(process, tried)
    assert "Werkzeug is not installed: pip install werkzeug" in process.stdout
    assert [name.split()[0] for name in tried] == ["werkzeug"]


def test_without_flask_the_package_reads_as_one_without_its_flask_extension() -> None:
    """``from pixel_embed import *``, ``hasattr`` and ``getattr(..., None)`` work without
    Flask (TikTokPixel is simply absent); importing TikTokPixel says what to install."""
    process, tried = run_blocked(
        "import pixel_embed\n"
        "print('hasattr', hasattr(pixel_embed, 'TikTokPixel'))\n"
        "print('getattr', getattr(pixel_embed, 'TikTokPixel', None))\n"
        "names = {}\n"
        "exec('from pixel_embed import *', names)\n"
        "print('star', 'TikTokPixel' in names, 'hash_email' in names)\n"
        "try:\n"
        "    from pixel_embed import TikTokPixel\n"
        "except ImportError as exc:\n"
        "    print('import', type(exc).__name__, exc)\n",
        blocked=("flask",),
    )
    assert process.returncode == 0, explain(process, tried)
    lines = process.stdout.splitlines()
    assert "hasattr False" in lines
    assert "getattr None" in lines
    assert "star False True" in lines
    assert (
        "import ModuleNotFoundError pixel_embed.TikTokPixel is the Flask extension, and Flask is "
        "not installed: pip install 'pixel-embed[flask]'"
    ) in lines


def test_with_flask_a_star_import_still_brings_the_extension() -> None:
    process = subprocess.run(
        [sys.executable, "-c", "from pixel_embed import *\nprint(TikTokPixel.__module__)"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert process.stdout.strip() == "pixel_embed.integrations.flask.extension", process.stderr
