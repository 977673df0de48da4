"""The ``pixel-embed`` command (``flask tiktok-pixel`` runs it too): audit a page's pixel, print the
snippet for a static site, hash an identifier the way the server does.

Exit statuses: 0 fine; 1 the audit found errors; 2 the page could not be audited, or the
command line (or a value on it) is wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from .errors import InvalidPhoneNumber, PixelError
from .matching import (
    hash_email,
    hash_external_id,
    hash_phone,
    is_sha256,
    normalize_email,
    normalize_external_id,
    normalize_phone,
)
from .render import CONSENT_MODES, PixelSettings, render_pixel

if TYPE_CHECKING:  # Playwright is needed by `audit` only.
    from playwright.sync_api import Browser

PROG = "pixel-embed"
EXIT_USAGE = 2
NEEDS_PLAYWRIGHT = "the audit needs Playwright: pip install 'pixel-embed[testing]'"


def _split_fill(value: str) -> tuple[str, str]:
    """``SELECTOR=TEXT``, split at the first ``=`` outside brackets and quotes, so that
    ``input[name=email]=jane@example.com`` works."""
    depth, quote = 0, ""
    for index, char in enumerate(value):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif char == "=" and depth == 0 and index > 0:
            return value[:index], value[index + 1 :]
    raise argparse.ArgumentTypeError(f"--fill {value!r} is not SELECTOR=TEXT")


class _StepAction(argparse.Action):
    """Keeps ``--click``, ``--fill`` and ``--accept-consent`` in the order they were given, each
    ``--expect`` with the step before it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        try:
            from .audit.runner import Step
        except ImportError as exc:
            parser.error(f"{NEEDS_PLAYWRIGHT} ({exc})")

        value = str(values)
        steps: list[Step] = list(getattr(namespace, "steps", None) or [])
        if self.dest == "fill":
            try:
                selector, text = _split_fill(value)
            except argparse.ArgumentTypeError as exc:
                parser.error(str(exc))
            steps.append(Step("fill", selector, text))
        elif self.dest == "accept_consent":
            if any(step.action == "accept-consent" for step in steps):
                parser.error("--accept-consent is given twice: the consent is accepted once")
            steps.append(Step("accept-consent", value))
        elif self.dest == "expect":
            if not steps or steps[-1].action == "accept-consent":
                parser.error(f"--expect {value!r} must follow the --click or --fill it is about")
            steps[-1] = replace(steps[-1], expect=(*steps[-1].expect, value))
        else:
            steps.append(Step("click", value))
        namespace.steps = steps


def _positive(value: str, option: str = "--timeout") -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{option} {value!r} is not a number of seconds") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{option} {value!r} must be more than 0 seconds")
    return seconds


def _wait(value: str) -> float:
    seconds = _positive(value, "--wait")
    if seconds > 600:
        raise argparse.ArgumentTypeError(f"--wait {value!r} must be at most 600 seconds")
    return seconds


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Check a page's TikTok pixel, print the pixel snippet, or hash an identifier.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    audit = commands.add_parser(
        "audit",
        help="open pages in headless Chromium and report their pixel calls and problems",
        description="Open each URL in headless Chromium (TikTok's SDK answered by a local "
        "recorder, so nothing reaches TikTok), perform the steps in the order given, and report "
        "every pixel call and every problem found. Exit status: 0 no error, 1 errors, 2 a page "
        "could not be audited.",
    )
    audit.add_argument("urls", nargs="+", metavar="URL", help="the page(s) to audit")
    step = "a step, performed in command-line order after the page has loaded"
    audit.add_argument("--click", metavar="SELECTOR", action=_StepAction, help=f"click: {step}")
    audit.add_argument(
        "--fill", metavar="SELECTOR=TEXT", action=_StepAction, help=f"type TEXT: {step}"
    )
    audit.add_argument(
        "--expect",
        metavar="EVENT",
        action=_StepAction,
        help="the step before is meant to track EVENT (repeatable): an error when it does not",
    )
    audit.add_argument(
        "--accept-consent",
        metavar="SELECTOR",
        action=_StepAction,
        help="click the consent banner's accept button; calls made before it are checked "
        "against consent",
    )
    audit.add_argument(
        "--allow-host",
        metavar="HOST",
        action="append",
        default=[],
        help="also load requests to HOST and its subdomains (a CDN, a tag manager); the URL's "
        "own host always loads",
    )
    audit.add_argument(
        "--sdk",
        metavar="DIR",
        help="run TikTok's own SDK from this copy (see `sdk pull`) and report, per event, what "
        "TikTok would receive and its own diagnostics; nothing is sent",
    )
    audit.add_argument("--json", action="store_true", help="print the report as JSON")
    audit.add_argument(
        "--timeout",
        metavar="S",
        type=_positive,
        default=15.0,
        help="seconds to wait for a page or a step's element (default 15)",
    )
    audit.add_argument(
        "--wait",
        metavar="S",
        type=_wait,
        default=0.0,
        help="listen at least S seconds after load and after each step, for calls made later "
        "than the audit can foresee (it always waits until the page is quiet, up to 10 s)",
    )
    audit.add_argument(
        "--deadline",
        metavar="S",
        type=_positive,
        help="seconds for each URL in all, after which it is reported as not audited (default: "
        "enough for the page, each step and listening after each, from --timeout and --wait)",
    )
    audit.set_defaults(steps=[], run=_audit)

    snippet = commands.add_parser(
        "snippet",
        help="print the pixel bootstrap for a static site",
        description="Print the TikTok pixel's <script> for a page's <head>, as the Flask "
        "extension renders it.",
    )
    snippet.add_argument(
        "--code", metavar="CODE", action="append", required=True, help="pixel code (repeatable)"
    )
    snippet.add_argument("--ldu", action="store_true", help="TikTok's Limited Data Use flag")
    snippet.add_argument(
        "--consent",
        choices=[mode for mode in CONSENT_MODES if mode != "none"],
        help="hold: the SDK loads and holds events until pixelEmbed.grantConsent(); strict: the "
        "SDK is not requested before it",
    )
    snippet.set_defaults(run=_snippet)

    sdk = commands.add_parser(
        "sdk",
        help="get a local copy of TikTok's pixel SDK, or say what a copy holds",
        description="A local copy of TikTok's browser SDK, laid out by URL path, for the QA "
        "kit's real-SDK mode (PIXEL_EMBED_SDK_DIR) and `audit --sdk`.",
    )
    sdk_commands = sdk.add_subparsers(dest="sdk_command", required=True, metavar="SUBCOMMAND")
    pull = sdk_commands.add_parser(
        "pull",
        help="download the SDK: the loader, the bundle it picks, the files that bundle names",
        description="Download TikTok's current pixel SDK into DIR (needs the internet, or "
        "--mirror).",
    )
    pull.add_argument("dir", metavar="DIR")
    pull.add_argument(
        "--pixel",
        metavar="CODE",
        default=os.environ.get("TIKTOK_PIXEL_CODE"),
        help="the pixel code to ask the loader for (default: $TIKTOK_PIXEL_CODE)",
    )
    pull.add_argument(
        "--mirror",
        metavar="URL",
        help="fetch https://HOST/PATH from URL/HOST/PATH instead (an internal mirror)",
    )
    pull.add_argument(
        "--timeout", metavar="S", type=_positive, default=30.0, help="seconds per download"
    )
    pull.set_defaults(run=_sdk_pull)
    info = sdk_commands.add_parser(
        "info", help="say which SDK version a copy holds", description="Describe an SDK copy."
    )
    info.add_argument("dir", metavar="DIR")
    info.add_argument("--json", action="store_true", help="print it as JSON")
    info.set_defaults(run=_sdk_info)

    hashing = commands.add_parser(
        "hash",
        help="print an identifier normalised and SHA-256 hashed, as the server sends it",
        description="Print the normalised value and its SHA-256, to compare with what TikTok "
        "Events Manager shows when match rates are low.",
    )
    which = hashing.add_mutually_exclusive_group(required=True)
    which.add_argument("--email", metavar="X")
    which.add_argument("--phone", metavar="X")
    which.add_argument("--external-id", metavar="X")
    hashing.add_argument(
        "--region", metavar="CC", help="region of a phone number written without +country"
    )
    hashing.set_defaults(run=_hash)
    # Starlette and FastAPI (Flask: flask tiktok-pixel events): the whole line goes to
    # pixel_embed.integrations.starlette.commands, imported only for it.
    events = commands.add_parser(
        "events",
        help="server-event delivery of a Starlette or FastAPI app: "
        "events --app MODULE:ATTRIBUTE status|retry|purge|deliver",
        add_help=False,
        prefix_chars="\0",
    )
    events.add_argument("argv", nargs=argparse.REMAINDER)
    events.set_defaults(run=_events)
    return parser


def _events(args: argparse.Namespace) -> int:
    try:
        from .integrations.starlette.commands import main as events_main
    except ImportError as exc:
        problem = f"events needs Starlette ({exc}): pip install 'pixel-embed[starlette]'"
        raise PixelError(problem) from None
    return events_main(args.argv, prog=f"{args.prog} events")


def _error(args: argparse.Namespace, message: str) -> None:
    print(f"{args.prog} {args.command}: {message}", file=sys.stderr)


def _audit(args: argparse.Namespace) -> int:
    try:
        import playwright.sync_api  # noqa: F401 (the audit modules import it only when used)

        from .audit.isolation import Job, audit_isolated
        from .audit.redact import json_safe, safe_text
        from .audit.report import exit_status, format_report, report_json
        from .audit.runner import AuditResult, audit
        from .audit.wire import WireAudit, audit_with_sdk
    except ImportError as exc:
        _error(args, f"{NEEDS_PLAYWRIGHT} ({exc})")
        return EXIT_USAGE
    from .browser.chromium import BrowserNotFound, find_chromium
    from .browser.sdk import require_sdk_dir

    sdk_dir = require_sdk_dir(args.sdk) if args.sdk is not None else None
    urls: list[str] = args.urls
    results: list[AuditResult] = []
    on_wire: dict[int, WireAudit] = {}
    if args.browser is None:
        try:
            find_chromium()  # once, rather than in the child of every URL
        except BrowserNotFound as exc:
            _error(args, safe_text(str(exc)))
            results = [AuditResult(url, failure=str(exc)) for url in urls]
            urls = []
    options: dict[str, Any] = {
        "timeout": args.timeout,
        "allow_hosts": tuple(args.allow_host),
        "wait": args.wait,
        "deadline": args.deadline,
    }
    for number, url in enumerate(urls, 1):
        print(f"[{number}/{len(urls)}] auditing {safe_text(url)} …", file=sys.stderr, flush=True)
        if args.browser is None:
            # Each URL in a child process with its own Chromium (pixel_embed.audit.isolation).
            job = Job(url, tuple(args.steps), sdk_dir=str(sdk_dir) if sdk_dir else None, **options)
            outcome = audit_isolated(job)
            result, audited = outcome.result, outcome.wire
        elif sdk_dir is None:
            result, audited = audit(args.browser, url, args.steps, **options), None
        else:
            audited = audit_with_sdk(args.browser, url, args.steps, sdk_dir=sdk_dir, **options)
            result = audited.result
        if audited is not None:
            on_wire[len(results)] = audited
        if result.failure is not None:
            _error(args, safe_text(result.failure))
        results.append(result)
    if args.json:
        document = _with_wire(report_json(results), on_wire)
        print(json_safe(json.dumps(document, indent=2, ensure_ascii=False)))
    else:
        print(_wire_report(format_report(results), results, on_wire))
    return exit_status(results)


def _with_wire(document: dict[str, Any], on_wire: dict[int, Any]) -> dict[str, Any]:
    """The audit's JSON with each URL's ``wire`` entry (``audit --sdk``)."""
    from .audit.redact import escape_data, mask_strings
    from .audit.wire import wire_json

    for index, audited in on_wire.items():
        document["results"][index]["wire"] = escape_data(mask_strings(wire_json(audited)))
    return document


def _wire_report(text: str, results: Sequence[Any], on_wire: dict[int, Any]) -> str:
    """The audit's text with what TikTok would receive after each URL's call tables."""
    from .audit.redact import safe_text
    from .audit.report import format_result
    from .audit.wire import format_wire_audit

    for index, audited in on_wire.items():
        block = format_result(results[index])
        # Line by line: the line feeds between lines are ours, those inside one are the page's.
        wire = "\n".join(safe_text(line) for line in format_wire_audit(audited).split("\n"))
        if wire and "\n  findings:" in block:
            head, _, tail = block.partition("\n  findings:")
            text = text.replace(block, f"{head}\n{wire}\n  findings:{tail}", 1)
        elif wire:
            text = text.replace(block, f"{block}\n{wire}", 1)
    return text


def _sdk_pull(args: argparse.Namespace) -> int:
    from .browser.sdk import pull_sdk

    if not args.pixel:
        _error(args, "give the pixel code to pull the SDK for: --pixel CODE")
        return EXIT_USAGE
    info = pull_sdk(args.dir, args.pixel, mirror=args.mirror, timeout=args.timeout)
    print(info.describe())
    if info.missing:
        _error(args, f"the copy lacks {', '.join(info.missing)}")
        return 1
    return 0


def _sdk_info(args: argparse.Namespace) -> int:
    from .browser.sdk import sdk_info

    info = sdk_info(args.dir)
    print(json.dumps(info.as_dict(), indent=2) if args.json else info.describe())
    return 1 if info.missing else 0


def _snippet(args: argparse.Namespace) -> int:
    settings = PixelSettings(codes=tuple(args.code), ldu=args.ldu, consent=args.consent or "none")
    print(render_pixel(settings))
    return 0


def _hash(args: argparse.Namespace) -> int:
    steps: dict[str, tuple[Callable[[str], str], Callable[[str], str]]] = {
        "email": (normalize_email, hash_email),
        "phone": (
            lambda v: normalize_phone(v, args.region),
            lambda v: hash_phone(v, args.region),
        ),
        "external_id": (normalize_external_id, hash_external_id),
    }
    if args.region is not None and args.phone is None:
        _error(args, "--region only applies to --phone")
        return EXIT_USAGE
    field = next(name for name in steps if getattr(args, name) is not None)
    value: str = getattr(args, field)
    normalize, digest = steps[field]
    normalised = "(already a SHA-256 digest: sent as is)" if is_sha256(value.strip()) else None
    try:
        print(f"normalised: {normalised or normalize(value)}")
    except InvalidPhoneNumber as exc:
        if args.region is None and "TIKTOK_PIXEL_DEFAULT_REGION" in exc.problem:
            # On the command line the region is an option, not a setting.
            problem = "has no country code; write it as +<country code> or add --region (e.g. US)"
            raise InvalidPhoneNumber(exc.field, exc.value, problem) from None
        raise
    print(f"sha256:     {digest(value)}")
    return 0


def main(
    argv: Sequence[str] | None = None, *, prog: str = PROG, browser: Browser | None = None
) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return the exit status.

    :param browser: a Playwright Chromium for ``audit`` to use instead of launching its own.
    """
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse has already printed
        return cast(int, exc.code or 0)
    args.prog = prog
    args.browser = browser
    try:
        return cast(int, args.run(args))
    except PixelError as exc:
        _error(args, str(exc))
        return EXIT_USAGE


def __getattr__(name: str) -> Any:
    # 0.1's `flask tiktok-pixel` entry point named pixel_embed.cli:flask_cli: metadata left from
    # an old install (or code that imported it) still finds the group, with a warning.
    if name == "flask_cli":
        warnings.warn(
            "pixel_embed.cli.flask_cli is deprecated: the `flask tiktok-pixel` group is "
            "pixel_embed.integrations.flask.cli.flask_cli",
            DeprecationWarning,
            stacklevel=2,
        )
        from .integrations.flask.cli import flask_cli

        return flask_cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    raise SystemExit(main())
