"""The QA kit: record every ``ttq`` call in headless Chromium and assert on it.

Installing pixel_embed registers the pytest plugin; its fixtures are ``pixel_page`` and
``pixel_browser``.
"""

from .browser import BrowserNotFound as BrowserNotFound
from .browser import Chromium as Chromium
from .browser import LaunchOptions as LaunchOptions
from .browser import find_chromium as find_chromium
from .expect import PixelExpectation as PixelExpectation
from .expect import expect_pixel as expect_pixel
from .expect import format_calls as format_calls
from .plugin import assert_no_csp_block as assert_no_csp_block
from .plugin import assert_no_raw_pii as assert_no_raw_pii
from .recorder import PixelRecorder as PixelRecorder
from .recorder import RecordedCall as RecordedCall
from .recorder import install_recorder as install_recorder
from .recorder import pixel_calls as pixel_calls
from .recorder import recorder_for as recorder_for
from .recorder import wire_events as wire_events
from .sdk import SdkNotFound as SdkNotFound
from .sdk import find_sdk_dir as find_sdk_dir
from .server import serve_app as serve_app
from .violations import PolicyViolation as PolicyViolation
from .wire import WireEvent as WireEvent
from .wire import format_wire as format_wire

__all__ = [
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
    "serve_app",
    "wire_events",
]
