"""``pixel-embed sdk pull|info`` and ``pixel-embed audit --sdk``: TikTok's SDK on this machine.

``sdk pull`` is tested against a server on 127.0.0.1 that serves the shared SDK copy as a
mirror: no test reaches the internet.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CODE, make_app, page
from flask import Flask
from playwright.sync_api import Browser
from sdk_support import raw_page
from werkzeug.exceptions import NotFound
from werkzeug.middleware.shared_data import SharedDataMiddleware

from pixel_embed import TikTokPixel
from pixel_embed.browser.sdk import MANIFEST, sdk_info
from pixel_embed.cli import main
from pixel_embed.testing import serve_app


@pytest.fixture(scope="module")
def mirror() -> Iterator[str]:
    """A static server on 127.0.0.1 serving the SDK copy by URL path, as a mirror would."""
    from sdk_support import real_sdk_dir

    with serve_app(SharedDataMiddleware(NotFound(), {"/": str(real_sdk_dir())})) as url:
        yield url


def test_pull_downloads_the_loader_and_the_bundles_it_names(
    mirror: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "sdk"
    assert main(["sdk", "pull", str(dest), "--pixel", CODE, "--mirror", mirror]) == 0
    out = capsys.readouterr().out
    assert f"TikTok pixel SDK copy in {dest}" in out
    assert "library:   pixel.js 2.2.1" in out
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.js"))
    assert files == [
        "analytics.tiktok.com/i18n/pixel/events.js",
        "analytics.tiktok.com/i18n/pixel/static/identify_5cff1caf.js",
        "analytics.tiktok.com/i18n/pixel/static/main.MWJkOTJmOWRkMQ.js",
    ]
    manifest = json.loads((dest / MANIFEST).read_text())
    assert manifest["from"] == mirror
    assert manifest["pixel"] == CODE
    assert manifest["urls"][0] == (
        f"https://analytics.tiktok.com/i18n/pixel/events.js?sdkid={CODE}&lib=ttq"
    )
    # The pulled copy is what the shared one is.
    from sdk_support import real_sdk_dir

    shared = {path: digest for path, _, digest in sdk_info(real_sdk_dir()).files}
    assert {path: digest for path, _, digest in sdk_info(dest).files} == shared


def test_info_says_which_version_a_copy_holds(
    sdk_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sdk", "info", str(sdk_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:5] == [
        f"TikTok pixel SDK copy in {sdk_dir}",
        "  library:   pixel.js 2.2.1",
        "  built for: D2RQS93C77U80VFNBV30 (served for any sdkid)",
        "  bundle:    main.MWJkOTJmOWRkMQ.js",
        "  renames:   15 page-side event names sent under another",
    ]
    assert main(["sdk", "info", str(sdk_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["library"] == "2.2.1"
    assert info["renames"]["CompletePayment"] == "Purchase"
    assert info["missing"] == []


def test_info_names_a_missing_bundle(
    sdk_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loader = tmp_path / "analytics.tiktok.com/i18n/pixel/events.js"
    loader.parent.mkdir(parents=True)
    loader.write_text((sdk_dir / "analytics.tiktok.com/i18n/pixel/events.js").read_text())
    assert main(["sdk", "info", str(tmp_path)]) == 1
    assert "    main.MWJkOTJmOWRkMQ.js  MISSING" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sdk", "info", "/nonexistent"], "holds no analytics.tiktok.com/i18n/pixel/events.js"),
        (["sdk", "pull", "x", "--pixel", "a'b"], '--pixel "a\'b" is not a pixel code'),
        (["sdk", "pull", "x", "--pixel", CODE, "--mirror", "file:///etc"], "is not an http(s) URL"),
        (["audit", "http://127.0.0.1:1/", "--sdk", "/nonexistent"], "holds no analytics"),
    ],
)
def test_usage_errors_name_the_value(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.splitlines()) == 1


def test_pull_names_the_url_it_could_not_get(
    mirror: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["sdk", "pull", str(tmp_path), "--pixel", CODE, "--mirror", mirror + "/nothing-here"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"cannot download {mirror}/nothing-here/analytics.tiktok.com/i18n/pixel/events.js" in err
    assert "HTTP Error 404" in err


# -- audit --sdk -----------------------------------------------------------------------------


def audited_site() -> Flask:
    app = make_app()
    pixel = TikTokPixel(app)

    @app.get("/good")
    def good() -> str:
        pixel.identify(email="jane@example.com")
        pixel.track("CompletePayment", value=10, currency="USD", event_id="o-1")
        return page()

    @app.get("/raw")
    def raw() -> str:
        calls = (
            "ttq.identify({email: 'jane@example.com', phone_number: '12345'});"
            "ttq.track('SubmitForm', {value: 1, currency: 'USD'});"
        )
        return raw_page(calls, codes=(CODE,))

    return app


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with serve_app(audited_site()) as url:
        yield url


def test_audit_with_the_sdk_shows_what_tiktok_would_receive(
    pixel_browser: Browser, site: str, sdk_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["audit", f"{site}/raw", "--sdk", str(sdk_dir)]
    assert main(argv, browser=pixel_browser) == 1
    out = capsys.readouterr().out
    assert "  what TikTok would receive (its real SDK, answered locally):" in out
    assert "Lead" in out
    assert "email:plain phone_number:invalid" in out
    assert "TikTok's labels (every beacon): raw_email=valid raw_phone=invalid" in out
    assert "error    wire-plain-email" in out
    assert "TikTok received a plain e-mail (beacons #" in out
    assert "TikTok flagged the phone number as invalid (beacons #" in out
    # The wire section sits before the findings of its URL.
    assert out.index("what TikTok would receive") < out.index("  findings:")
    # One beacon a line, with real line feeds (they were printed as a literal \x0a).
    assert "\\x0a" not in out
    lines = out.splitlines()
    start = lines.index("  what TikTok would receive (its real SDK, answered locally):")
    assert lines[start + 1].startswith("    ")
    assert any("Lead" in line for line in lines[start + 1 : start + 12])


def test_audit_with_the_sdk_in_a_child_process(
    site: str, sdk_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["audit", f"{site}/raw", "--sdk", str(sdk_dir)]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "  what TikTok would receive (its real SDK, answered locally):\n" in out
    assert "error    wire-plain-email" in out


def test_audit_with_the_sdk_as_json(
    pixel_browser: Browser, site: str, sdk_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["audit", f"{site}/good", "--sdk", str(sdk_dir), "--json"]
    assert main(argv, browser=pixel_browser) == 0
    report = json.loads(capsys.readouterr().out)
    wire = report["results"][0]["wire"]
    [purchase] = [event for event in wire["events"] if event["event"] == "Purchase"]
    assert purchase["event_id"] == "o-1"
    assert purchase["identity"] == {"email": "hashed"}
    assert purchase["properties"]["value"] == 10
    codes = {finding["code"] for finding in report["results"][0]["findings"]}
    assert not {code for code in codes if code.startswith("wire-plain")}
