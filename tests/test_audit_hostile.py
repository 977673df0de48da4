"""Pages that try to hang the audit, flood it, or reach the auditor's machine (issue 23, items 4
and 5): each is audited within its deadline, with what it cut reported, and nothing private
reached."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CODE
from flask import Flask
from playwright.sync_api import Browser

from pixel_embed import PixelSettings, render_pixel
from pixel_embed.audit import audit
from pixel_embed.audit.isolation import GRACE, Job, _descendants, audit_isolated
from pixel_embed.audit.network import NetworkGuard, pinning_rules, reach_of
from pixel_embed.audit.runner import url_deadline
from pixel_embed.browser.chromium import find_chromium
from pixel_embed.cli import main
from pixel_embed.testing import serve_app

PIXEL = str(render_pixel(PixelSettings((CODE,))))


#: The codes proved here (on pages that need a browser of their own, or a flood).
PROVED = {"truncated": "info", "private-network-request": "warning"}


def nested(depth: int) -> str:
    return "{a: " * depth + "1" + "}" * depth


PAGES = {
    # Keeps the main thread busy once loaded, for ever.
    "busy": "addEventListener('load', function () { setTimeout(function () { for (;;) {} }, 50); });",
    # Busy from the task after the first animation frame after load: the audit's first question
    # (asked in an animation frame) is answered, and the page spins before the next one.
    "busy-after-answer": "addEventListener('load', function () { requestAnimationFrame("
    "function () { setTimeout(function () { for (;;) {} }, 0); }); });",
    "deep-200": f"ttq.track('ViewContent', {{value: 1, currency: 'USD', deep: {nested(200)}}});",
    "deep-990": f"ttq.track('ViewContent', {{value: 1, currency: 'USD', deep: {nested(990)}}});",
    # 100 calls of 2 MB each: 200 MB for an auditor that kept them.
    "big": "var big = new Array(2 * 1024 * 1024 + 1).join('x');\n"
    "for (var i = 0; i < 100; i++) ttq.track('ViewContent', {description: big, value: i});",
    "many": "for (var i = 0; i < 700; i++) ttq.track('Search', {query: 'q' + i});",
}


def hostile_app() -> Flask:
    app = Flask(__name__)

    @app.get("/p/<name>")
    def show(name: str) -> str:
        return (
            f"<!doctype html><html><head>{PIXEL}<script>{PAGES[name]}</script></head>"
            f"<body>{name}</body></html>"
        )

    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_app(hostile_app()) as url:
        yield url


@pytest.mark.parametrize("name", ["busy", "busy-after-answer"])
def test_a_busy_main_thread_cannot_hang_the_audit(base_url: str, name: str) -> None:
    # In a child process with its own Chromium, as the command audits: a renderer that never
    # yields can hold a Playwright call that has no timeout of its own (a wait's clean-up, a
    # handle read back), which only killing the child bounds.
    job = Job(f"{base_url}/p/{name}", timeout=3)
    started = time.monotonic()
    outcome = audit_isolated(job)
    assert time.monotonic() - started < job.seconds + GRACE + 5
    failure = outcome.result.failure
    assert failure is not None
    assert failure.startswith("could not be audited in ")
    # The next URL gets a Chromium of its own, unharmed.
    assert audit_isolated(Job(f"{base_url}/p/many", timeout=10)).result.failure is None


def test_the_command_reports_a_busy_page_as_not_audited(
    base_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    assert main(["audit", "--timeout", "3", f"{base_url}/p/busy"]) == 2
    # Never longer than the URL's deadline and the child's grace, however busy the machine.
    assert time.monotonic() - started < url_deadline(3, 0, 0) + GRACE + 5
    out, err = capsys.readouterr()
    assert "could not be audited in " in out
    assert "could not be audited in " in err


def test_the_per_url_deadline_closes_everything(base_url: str) -> None:
    # A deadline too short even for Chromium to start: the child is killed with its browser.
    job = Job(f"{base_url}/p/many", deadline=0.2)
    started = time.monotonic()
    outcome = audit_isolated(job, grace=0.3)
    assert time.monotonic() - started < 5
    assert outcome.result.failure is not None
    assert outcome.result.failure.startswith("could not be audited in 1 s: the audit did not")
    assert not any("audit.isolation" in _cmdline(pid) for pid in _descendants(1))


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace")
    except OSError:
        return ""


@pytest.mark.parametrize("depth", [200, 990])
def test_deep_arguments_are_cut_and_reported(
    pixel_browser: Browser, base_url: str, depth: int
) -> None:
    result = audit(pixel_browser, f"{base_url}/p/deep-{depth}", timeout=10)
    assert result.failure is None, result.failure
    assert result.evidence is not None
    [track] = [call for call in result.evidence.calls if call.method == "track"]
    assert track.event == "ViewContent"
    assert "[truncated: nested deeper than 16]" in json.dumps(track.args)
    assert result.evidence.truncated.cut_calls == 1
    [finding] = [f for f in result.findings if f.code == "truncated"]
    assert "1 call(s) had arguments cut" in finding.message


def test_big_calls_are_cut_and_many_calls_are_counted(
    pixel_browser: Browser, base_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    result = audit(pixel_browser, f"{base_url}/p/big", timeout=20)
    assert result.evidence is not None
    tracks = [call for call in result.evidence.calls if call.method == "track"]
    assert len(tracks) == 100
    assert all(len(json.dumps(call.args)) < 70_000 for call in tracks)
    assert result.evidence.truncated.cut_calls == 100
    many = audit(pixel_browser, f"{base_url}/p/many", timeout=10)
    assert many.evidence is not None
    assert len(many.evidence.calls) == 500
    assert many.evidence.truncated.dropped_calls == 202  # 700 searches, a load and a page
    assert any("202 call(s) over the audit's cap" in f.message for f in many.findings)
    assert main(["audit", "--json", f"{base_url}/p/many"], browser=pixel_browser) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["results"][0]["truncated"] == {
        "dropped_calls": 202,
        "cut_calls": 0,
        "cut_scripts": 0,
    }


# -- the private network ---------------------------------------------------------------------


class Listener:
    """A TCP service on this machine that notes every connection it gets (a stand-in for an
    admin panel or a metadata service the audited page must not reach)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecret")
            conn.close()


PROBE = """
var out = [];
function send(what) { out.push(what); document.title = out.join(","); }
fetch("http://127.0.0.1:PORT/admin").then(function (r) { return r.text(); })
  .then(function (t) { send("loopback:" + t); }, function () { send("loopback:refused"); });
fetch("http://intranet.test:PORT/admin").then(function (r) { return r.text(); })
  .then(function (t) { send("named:" + t); }, function () { send("named:refused"); });
var ws = new WebSocket("ws://127.0.0.1:PORT/socket");
ws.onopen = function () { send("ws:open"); };
ws.onclose = function () { send("ws:closed"); };
"""


def probe_app(port: int) -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def home() -> str:
        probe = PROBE.replace("PORT", str(port))
        return f"<!doctype html><html><head>{PIXEL}<script>{probe}</script></head><body>shop</body></html>"

    return app


# The audited shop looks public (its name resolves to a public address), the intranet name
# resolves to this machine. Chromium is told the same through --host-resolver-rules, so the
# "public" shop is in fact served by a local test server.
NAMES = {"shop.test": ["8.8.8.8"], "intranet.test": ["127.0.0.1"]}


def fake_resolver(host: str) -> list[str]:
    if host in NAMES:
        return NAMES[host]
    return [host] if host.replace(".", "").isdigit() or ":" in host else []


@pytest.fixture(scope="module")
def public_looking_browser(pixel_browser: Browser) -> Iterator[Browser]:
    options = find_chromium().launch_options
    rules = "MAP shop.test 127.0.0.1, MAP intranet.test 127.0.0.1"
    options["args"] = [*options["args"], f"--host-resolver-rules={rules}"]
    browser = pixel_browser.browser_type.launch(**options)
    yield browser
    browser.close()


def test_a_public_page_cannot_reach_the_auditors_machine(public_looking_browser: Browser) -> None:
    secret = Listener()
    with serve_app(probe_app(secret.port)) as local:
        port = local.rsplit(":", 1)[1]
        result = audit(
            public_looking_browser, f"http://shop.test:{port}/", timeout=10, resolver=fake_resolver
        )
    assert result.failure is None, result.failure
    assert secret.connections == 0
    assert result.evidence is not None
    refused = sorted(url for url, _ in result.evidence.private)
    assert refused == sorted(
        [
            f"http://127.0.0.1:{secret.port}/admin",
            f"http://intranet.test:{secret.port}/admin",
            f"ws://127.0.0.1:{secret.port}/socket",
        ]
    )
    [finding] = [f for f in result.findings if f.code == "private-network-request"]
    assert finding.severity == "warning"
    assert "intranet.test (127.0.0.1)" in finding.message


def test_a_local_page_may_still_use_this_machine(pixel_browser: Browser) -> None:
    secret = Listener()
    with serve_app(probe_app(secret.port)) as local:
        result = audit(pixel_browser, f"{local}/", timeout=10)
    assert result.failure is None, result.failure
    assert result.evidence is not None
    assert result.evidence.private == ()
    assert secret.connections >= 2  # the fetch and the WebSocket reached it


@pytest.mark.parametrize(
    ("address", "reach"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("0.0.0.0", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("169.254.169.254", "private"),
        ("100.64.0.1", "private"),
        ("fd00::1", "private"),
        ("fe80::1%eth0", "private"),
        ("8.8.8.8", "public"),
        ("2606:4700::1111", "public"),
    ],
)
def test_addresses_are_told_apart(address: str, reach: str) -> None:
    assert reach_of(address) == reach


def test_a_public_name_that_resolves_privately_is_private() -> None:
    guard = NetworkGuard.for_url("https://shop.test/", fake_resolver)
    assert guard.reach == "public"
    assert guard.refuses("https://intranet.test/x") == "127.0.0.1"
    assert guard.refuses("https://shop.test/x") is None
    assert guard.refuses("https://analytics.tiktok.com/i18n/pixel/events.js") is None
    staging = NetworkGuard.for_url("http://10.0.0.8/", lambda host: [host])
    assert staging.reach == "private"
    assert staging.refuses("http://10.0.0.9/") is None
    assert staging.refuses("http://127.0.0.1:6379/") == "127.0.0.1"


# -- personal data in names ------------------------------------------------------------------

NAMES_PAGE = """
ttq.methods.push("mail_jane@example.com");
ttq.setAndDefer(ttq, "mail_jane@example.com");
ttq.load("jane@example.com");
ttq.instance("jane@example.com").track("Lead for jane@example.com", {value: 1, currency: "USD"},
  {event_id: "jane@example.com"});
ttq["mail_jane@example.com"]("+12133734253");
ttq.track("Contact", {"jane@example.com": "+12133734253"}, {event_id: "c-1"});
"""
RAW_NAMES = ("jane@example.com", "2133734253")


def names_app() -> Flask:
    app = Flask(__name__)

    @app.get("/names")
    def names() -> str:
        return (
            f"<!doctype html><html><head>{PIXEL}<script>{NAMES_PAGE}</script></head>"
            "<body>names</body></html>"
        )

    return app


def test_personal_data_in_names_never_reaches_the_report(
    pixel_browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve_app(names_app()) as base:
        url = f"{base}/names?email=jane@example.com"
        assert main(["audit", url], browser=pixel_browser) == 1
        text, err = capsys.readouterr()
        assert main(["audit", "--json", url], browser=pixel_browser) == 1
        document, _ = capsys.readouterr()
    for output in (text, err, document):
        for raw in RAW_NAMES:
            assert raw not in output
    report = json.loads(document)
    [result] = report["results"]
    assert sorted(result["pages"][0]["sdk_loads"]) == [CODE, "j***@example.com"]
    methods = [call["method"] for call in result["calls"]]
    assert "m***@example.com" in methods
    pixels = {call["pixel"] for call in result["calls"]}
    assert "j***@example.com" in pixels
    events = {call["event"] for call in result["calls"]}
    assert "Lead for j***@example.com" in events
    assert "j***@example.com" in text
    assert "pii-in-url" in {finding["code"] for finding in result["findings"]}


FLOOD_BINDING = """
// Past the probe: Playwright's own binding channel, which every page can see.
var big = new Array(64 * 1024 * 1024 + 1).join("x");
for (var i = 0; i < 4; i++) {
  window.__playwright__binding__(JSON.stringify({name: "__pixelEmbedAuditError", seq: i,
    serializedArgs: [{s: "d"}, {n: i}, {o: [{k: "message", v: {s: big}}], id: 1}]}));
}
"""


def flood_app() -> Flask:
    app = Flask(__name__)

    @app.get("/flood")
    def flood() -> str:
        return f"<!doctype html><html><head>{PIXEL}<script>{FLOOD_BINDING}</script></head></html>"

    return app


def test_a_page_that_floods_playwrights_binding_meets_the_memory_bound() -> None:
    with serve_app(flood_app()) as base:
        started = time.monotonic()
        outcome = audit_isolated(Job(f"{base}/flood", timeout=10, memory_headroom_mb=128))
    # Bounded: in time (the URL's deadline), and in the child's memory: never past the address
    # space it had with Chromium up plus the headroom (an absolute 400 MB failed in CI's dry
    # run at 417 MB: the flood reached the cap, and the child's size at launch varies).
    assert time.monotonic() - started < url_deadline(10, 0, 0) + GRACE
    # What the audit says varies with the machine (the flood met the cap: "more than its 128
    # MB"; or it held the page past its timeout): either way a finding, never a crash or hang.
    if outcome.memory_limit_kb is None:
        assert outcome.result.failure
    else:
        assert outcome.memory_limit_kb < 1024 * 1024
        assert outcome.peak_rss_kb <= outcome.memory_limit_kb


def test_the_childs_memory_bound_holds() -> None:
    code = (
        "from pixel_embed.audit.isolation import _limit_memory\n"
        "_limit_memory(64)\n"
        "try:\n"
        "    block = bytearray(256 * 1024 * 1024)\n"
        "except MemoryError:\n"
        "    print('bounded')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "bounded", done.stderr


def test_the_audited_host_is_pinned_to_the_checked_address() -> None:
    names = {
        "shop.test": ["2a00:1450::1", "8.8.8.8"],
        "cdn.test": ["2606:4700::1111"],
        "localhost": ["::1", "127.0.0.1"],
    }
    rules, pinned = pinning_rules(
        ["shop.test", "cdn.test", "127.0.0.1", "", "gone.test", "localhost"],
        lambda host: names.get(host, []),
    )
    assert rules == "MAP shop.test 8.8.8.8, MAP cdn.test [2606:4700::1111]"
    assert pinned == {"shop.test": ["2a00:1450::1", "8.8.8.8"], "cdn.test": ["2606:4700::1111"]}


def test_a_pinned_audit_still_opens_a_named_local_site(capsys: pytest.CaptureFixture[str]) -> None:
    # A name of this machine is not pinned (IPv6 first would miss a server on 127.0.0.1).
    with serve_app(hostile_app()) as base:
        url = base.replace("127.0.0.1", "localhost") + "/p/many"
        assert main(["audit", "--json", url]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["results"][0]["audited"] is True


def test_the_childs_peak_memory_is_its_own_not_its_parents() -> None:
    # Linux's ru_maxrss survives execve: a child of a large process (the whole test run, with
    # every module loaded) reported its parent's 420 MB as its own peak (CI's dry run).
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "ballast = bytearray(300 * 1024 * 1024)\n"
        "for i in range(0, len(ballast), 4096):\n"
        "    ballast[i] = 1\n"
        "from test_audit_hostile import flood_app, serve_app\n"
        "from pixel_embed.audit.isolation import Job, audit_isolated\n"
        "with serve_app(flood_app()) as base:\n"
        "    print(audit_isolated(Job(base + '/flood', timeout=10)).peak_rss_kb)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) < 250 * 1024
