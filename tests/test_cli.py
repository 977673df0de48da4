"""The ``pixel-embed`` command line (in-process and as a real process), and the Flask group."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import CODE, OTHER_CODE, refused_url
from flask import Flask
from flask.cli import FlaskGroup
from playwright.sync_api import Browser

from pixel_embed import (
    PixelSettings,
    hash_email,
    hash_external_id,
    hash_phone,
    render_pixel,
)
from pixel_embed.audit import Step
from pixel_embed.cli import build_parser, main
from pixel_embed.testing import serve_app

GOOD = str(render_pixel(PixelSettings((CODE,))))
BAD = (
    GOOD + '<script>ttq.track("CompletePayment", {"currency": "USD"}, {"event_id": "o-1"})</script>'
)


def pages() -> Flask:
    app = Flask(__name__)
    pixels = {"good": GOOD, "bad": BAD}

    @app.get("/<name>")
    def show(name: str) -> str:
        return f"<html><head>{pixels[name]}</head></html>"

    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_app(pages()) as url:
        yield url


# -- audit ---------------------------------------------------------------------------------------


def test_audit_prints_the_calls_and_findings_and_fails_on_errors(
    pixel_browser: Browser, base_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", f"{base_url}/bad"], browser=pixel_browser) == 1
    out, err = capsys.readouterr()
    assert err == f"[1/1] auditing {base_url}/bad …\n"
    lines = out.splitlines()
    assert lines[0] == f"{base_url}/bad  (1 page, 3 calls)"
    assert lines[1] == f"  page {base_url}/bad"
    assert lines[2].split() == ["#", "pixel", "method", "event", "/", "arguments", "event_id"]
    assert lines[5].split() == ["3", "-", "track", "CompletePayment", '{"currency":"USD"}', "o-1"]
    assert "  findings: 1 error, 0 warnings, 0 info" in lines
    assert (
        "    error    purchase-without-value  call 3   CompletePayment has no value: the sale is "
        "counted without its amount"
    ) in lines
    assert lines[-1] == "1 URL: 1 error, 0 warnings, 0 info"


def test_audit_json_follows_the_documented_schema(
    pixel_browser: Browser, base_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = refused_url()
    argv = ["audit", "--json", f"{base_url}/good", f"{base_url}/bad", url]
    assert main(argv, browser=pixel_browser) == 2
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["schema"] == "pixel-embed-audit/2"
    assert report["exit_status"] == 2
    assert report["summary"] == {"urls": 3, "not_audited": 1, "error": 1, "warning": 0, "info": 0}
    good, bad, refused = report["results"]
    assert good == {
        "url": f"{base_url}/good",
        "audited": True,
        "reason": None,
        "pages": [
            {
                "url": f"{base_url}/good",
                "first_call": 1,
                "calls": 2,
                "stubs": 1,
                "sdk_loads": [CODE],
                "consent": "none",
            }
        ],
        "calls": [
            {
                "number": 1,
                "url": f"{base_url}/good",
                "pixel": CODE,
                "method": "load",
                "event": None,
                "params": {},
                "event_id": None,
                "args": [CODE],
            },
            {
                "number": 2,
                "url": f"{base_url}/good",
                "pixel": None,
                "method": "page",
                "event": None,
                "params": {},
                "event_id": None,
                "args": [],
            },
        ],
        "findings": [],
        "counts": {"error": 0, "warning": 0, "info": 0},
        "truncated": {"dropped_calls": 0, "cut_calls": 0, "cut_scripts": 0},
        "private": [],
        "steps": [],
    }
    assert bad["findings"] == [
        {
            "code": "purchase-without-value",
            "severity": "error",
            "message": "CompletePayment has no value: the sale is counted without its amount",
            "call": 3,
            "url": f"{base_url}/bad",
        }
    ]
    assert bad["calls"][2]["params"] == {"currency": "USD"}
    assert bad["calls"][2]["event_id"] == "o-1"
    reason = f"cannot open {url}: connection refused (ERR_CONNECTION_REFUSED)"
    assert refused == {
        "url": url,
        "audited": False,
        "reason": reason,
        "pages": [],
        "calls": [],
        "findings": [],
        "counts": {"error": 0, "warning": 0, "info": 0},
        "truncated": None,
        "private": [],
        "steps": [],
    }
    assert f"pixel-embed audit: {reason}\n" in err


def test_audit_without_chromium_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PIXEL_EMBED_CHROMIUM", "/nonexistent/chromium")
    assert main(["audit", "http://127.0.0.1:9/"]) == 2
    out, err = capsys.readouterr()
    assert err.startswith(
        "pixel-embed audit: PIXEL_EMBED_CHROMIUM='/nonexistent/chromium' is not an executable "
        "file. No Chromium found: install one with `apt-get install -y chromium`"
    )
    assert len(err.splitlines()) == 1
    assert "could not be audited: PIXEL_EMBED_CHROMIUM=" in out


def test_the_installed_command_is_a_ci_gate(base_url: str) -> None:
    command = Path(sys.executable).parent / "pixel-embed"
    run = subprocess.run(
        [command, "audit", "--json", "--timeout", "10", f"{base_url}/bad"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1, run.stderr
    assert json.loads(run.stdout)["summary"]["error"] == 1


def test_a_page_without_errors_passes(
    pixel_browser: Browser, base_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", f"{base_url}/good"], browser=pixel_browser) == 0
    assert capsys.readouterr().out.endswith("\n\n1 URL: 0 errors, 0 warnings, 0 info\n")


def test_steps_keep_their_command_line_order() -> None:
    args = build_parser().parse_args(
        [
            "audit",
            "http://127.0.0.1:5000/",
            "--accept-consent",
            "#consent [data-consent=grant]",
            "--fill",
            "input[name='email']=jane=doe@example.com",
            "--click",
            "#buy",
        ]
    )
    assert args.steps == [
        Step("accept-consent", "#consent [data-consent=grant]"),
        Step("fill", "input[name='email']", "jane=doe@example.com"),
        Step("click", "#buy"),
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["audit", "http://x/", "--fill", "#email"], "--fill '#email' is not SELECTOR=TEXT"),
        (["audit", "http://x/", "--timeout", "0"], "--timeout '0' must be more than 0 seconds"),
        (
            ["audit", "http://x/", "--accept-consent", "#a", "--accept-consent", "#b"],
            "--accept-consent is given twice",
        ),
        (["hash", "--email", "a@b.co", "--phone", "1"], "not allowed with argument"),
    ],
)
def test_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


# -- snippet and hash ----------------------------------------------------------------------------


def test_snippet_is_what_the_extension_renders(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["snippet", "--code", CODE, "--code", OTHER_CODE, "--ldu", "--consent", "strict"]) == 0
    )
    settings = PixelSettings((CODE, OTHER_CODE), ldu=True, consent="strict")
    assert capsys.readouterr().out == f"{render_pixel(settings)}\n"


def test_snippet_refuses_a_bad_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["snippet", "--code", "not-a-code"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("pixel-embed snippet: TIKTOK_PIXEL_CODE 'not-a-code' is not a pixel code")


@pytest.mark.parametrize(
    ("argv", "normalised", "digest"),
    [
        (["--email", " Jane@Example.COM "], "jane@example.com", hash_email("jane@example.com")),
        (
            ["--phone", "(213) 373-4253", "--region", "US"],
            "+12133734253",
            hash_phone("+12133734253"),
        ),
        (["--external-id", " u-42 "], "u-42", hash_external_id("u-42")),
        (["--email", "A" * 64], "(already a SHA-256 digest: sent as is)", "a" * 64),
    ],
    ids=["email", "phone", "external-id", "digest"],
)
def test_hash_prints_the_normalised_value_and_its_digest(
    argv: list[str], normalised: str, digest: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hash", *argv]) == 0
    assert capsys.readouterr().out == f"normalised: {normalised}\nsha256:     {digest}\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        # An identity error never repeats the value (it is personal data, and ends up in logs).
        (
            ["--email", "jane"],
            "pixel-embed hash: email (value withheld) is not an e-mail address\n",
        ),
        (
            ["--phone", "373-4253"],
            "pixel-embed hash: phone_number (value withheld) has no country code; write it as "
            "+<country code> or add --region (e.g. US)\n",
        ),
        (
            ["--phone", "(213) 373-4253"],
            "pixel-embed hash: phone_number (value withheld) has no country code; write it as "
            "+<country code> or add --region (e.g. US)\n",
        ),
        (
            ["--email", "a@b.co", "--region", "US"],
            "pixel-embed hash: --region only applies to --phone\n",
        ),
    ],
)
def test_hash_refuses_bad_values(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hash", *argv]) == 2
    assert capsys.readouterr() == ("", message)


# -- flask tiktok-pixel ----------------------------------------------------------------------------


def test_flask_command_group_uses_the_apps_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # FlaskGroup sets FLASK_RUN_FROM_CLI in os.environ; later subprocesses must not inherit it.
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "false")
    app = Flask(__name__)
    app.config.update(
        TIKTOK_PIXEL_CODE=CODE,
        TIKTOK_PIXEL_CONSENT="hold",
        TIKTOK_PIXEL_LDU=True,
        TIKTOK_PIXEL_DEFAULT_REGION="US",
    )
    cli = FlaskGroup(create_app=lambda: app)
    runner = CliRunner()
    snippet = runner.invoke(cli, ["tiktok-pixel", "snippet"])
    assert snippet.exit_code == 0, snippet.output
    expected = render_pixel(PixelSettings((CODE,), ldu=True, consent="hold"))
    assert snippet.output == f"{expected}\n"
    other = runner.invoke(cli, ["tiktok-pixel", "snippet", "--code", OTHER_CODE])
    assert other.output == f"{render_pixel(PixelSettings((OTHER_CODE,)))}\n"
    hashed = runner.invoke(cli, ["tiktok-pixel", "hash", "--email", "Jane@Example.com"])
    assert hashed.exit_code == 0
    assert hashed.output.splitlines()[1] == f"sha256:     {hash_email('jane@example.com')}"
    phone = runner.invoke(cli, ["tiktok-pixel", "hash", "--phone", "(213) 373-4253"])
    assert phone.output.splitlines()[0] == "normalised: +12133734253"
    usage = runner.invoke(cli, ["tiktok-pixel", "audit", "--help"])
    assert usage.exit_code == 0
    assert "usage: flask tiktok-pixel audit" in usage.output


@pytest.mark.parametrize(
    ("settings", "command", "message"),
    [
        (
            {"TIKTOK_PIXEL_ENABLED": False, "TIKTOK_PIXEL_CODE": 1234},
            ["snippet"],
            "TIKTOK_PIXEL_CODE must be a pixel code (a string) or a list of them, not 1234",
        ),
        (
            {"TIKTOK_PIXEL_ENABLED": False, "TIKTOK_PIXEL_CODE": CODE, "TIKTOK_PIXEL_LDU": "false"},
            ["snippet"],
            "TIKTOK_PIXEL_LDU must be True or False, not 'false'",
        ),
        (
            {"TIKTOK_PIXEL_CODE": CODE, "TIKTOK_PIXEL_CONSENT": "opt-in"},
            ["snippet"],
            "TIKTOK_PIXEL_CONSENT 'opt-in' is not one of 'none', 'hold', 'strict'",
        ),
        (
            {"TIKTOK_PIXEL_CODE": CODE, "TIKTOK_PIXEL_DEFAULT_REGION": 44},
            ["hash", "--phone", "(213) 373-4253"],
            "TIKTOK_PIXEL_DEFAULT_REGION 44 is not an ISO 3166 alpha-2 code",
        ),
    ],
)
def test_flask_commands_read_the_apps_settings_through_the_config_check(
    settings: dict[str, Any],
    command: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before, the commands read app.config raw (the pixel not registered, or disabled, so
    nothing had checked it): a TypeError traceback for a code 1234 or a region 44, and
    LDU "false" printed ``limited_data_use: true``."""
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "false")
    app = Flask(__name__)
    app.config.update(settings)
    run = CliRunner().invoke(FlaskGroup(create_app=lambda: app), ["tiktok-pixel", *command])
    assert run.exit_code == 2, run.output
    assert run.exception is None or isinstance(run.exception, SystemExit), run.exception
    assert f"flask tiktok-pixel: {message}" in run.output
    assert "limited_data_use" not in run.output


def test_a_disabled_pixels_snippet_is_still_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "false")
    app = Flask(__name__)
    app.config.update(TIKTOK_PIXEL_ENABLED=False, TIKTOK_PIXEL_CODE=CODE, TIKTOK_PIXEL_LDU=True)
    run = CliRunner().invoke(FlaskGroup(create_app=lambda: app), ["tiktok-pixel", "snippet"])
    assert run.exit_code == 0, run.output
    assert run.output == f"{render_pixel(PixelSettings((CODE,), ldu=True))}\n"


@pytest.mark.parametrize(
    "argv", [["http://127.0.0.1:9/"], ["--click", "#a", "http://127.0.0.1:9/"]]
)
def test_audit_without_playwright_says_what_to_install(argv: list[str]) -> None:
    code = (
        "import sys; sys.modules['playwright'] = None\n"
        "from pixel_embed.cli import main\n"
        f"raise SystemExit(main(['audit', *{argv!r}]))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 2
    assert "the audit needs Playwright: pip install 'pixel-embed[testing]'" in run.stderr
    assert "Traceback" not in run.stderr
