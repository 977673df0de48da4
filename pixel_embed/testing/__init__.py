"""The QA kit: record every ``ttq`` call in headless Chromium and assert on it.

Installing pixel_embed registers the pytest plugin; its fixtures are ``pixel_page`` and
``pixel_browser``. Importing the kit imports neither Playwright nor a web framework: Playwright
when a browser fixture or a page is used, Werkzeug when :func:`serve_app` serves an app.
"""

from ..browser.calls import RecordedCall as RecordedCall
from ..browser.calls import format_calls as format_calls
from ..browser.chromium import BrowserNotFound as BrowserNotFound
from ..browser.chromium import Chromium as Chromium
from ..browser.chromium import LaunchOptions as LaunchOptions
from ..browser.chromium import find_chromium as find_chromium
from ..browser.pii import AutoCollectedIdentity as AutoCollectedIdentity
from ..browser.recorder import PixelRecorder as PixelRecorder
from ..browser.recorder import install_recorder as install_recorder
from ..browser.recorder import pixel_calls as pixel_calls
from ..browser.recorder import recorder_for as recorder_for
from ..browser.recorder import wire_events as wire_events
from ..browser.sdk import SdkNotFound as SdkNotFound
from ..browser.sdk import find_sdk_dir as find_sdk_dir
from ..browser.violations import PolicyViolation as PolicyViolation
from ..browser.wire import WIRE_NAMES as WIRE_NAMES
from ..browser.wire import WireEvent as WireEvent
from ..browser.wire import format_wire as format_wire
from ..browser.wire import wire_name as wire_name
from .compare import same_value as same_value
from .expect import PixelExpectation as PixelExpectation
from .expect import expect_pixel as expect_pixel
from .plugin import assert_no_csp_block as assert_no_csp_block
from .plugin import assert_no_raw_pii as assert_no_raw_pii
from .server import serve_app as serve_app

__all__ = [
    "WIRE_NAMES",
    "AutoCollectedIdentity",
    "BrowserNotFound",
    "Chromium",
    "LaunchOptions",
    "PixelExpectation",
    "PixelRecorder",
    "PolicyViolation",
    "RecordedCall",
    "SdkNotFound",
    "WireEvent",
    "assert_no_csp_block",
    "assert_no_raw_pii",
    "expect_pixel",
    "find_chromium",
    "find_sdk_dir",
    "format_calls",
    "format_wire",
    "install_recorder",
    "pixel_calls",
    "recorder_for",
    "same_value",
    "serve_app",
    "wire_events",
    "wire_name",
]
