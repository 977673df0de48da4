"""``python -m demo_django`` (``make demo-django``) serves the Django shop, with the options it
documents, and is the demo's ``manage.py``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.error import URLError

from django.conf import settings
from django_support import running_shop  # noqa: F401 - sets Django up


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _get(url: str, deadline: float) -> str:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as page:
                return str(page.read().decode())
        except (URLError, TimeoutError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_python_m_demo_django_migrates_and_serves_the_shop(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "DEMO_DB": str(tmp_path / "demo.sqlite3")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "demo_django", "--port", str(port), "--strict-csp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == f"Pixel & Co. on Django: http://127.0.0.1:{port}/\n"
        html = _get(f"http://127.0.0.1:{port}/product/enamel-mug", time.monotonic() + 60)
        assert f'ttq.load("{settings.TIKTOK_PIXEL_CODE}");' in html
        assert 'ttq.track("ViewContent"' in html
        assert '<script nonce="' in html  # django-csp's nonce, --strict-csp
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_python_m_demo_django_is_its_manage_py(tmp_path: Path) -> None:
    env = {**os.environ, "DEMO_DB": str(tmp_path / "demo.sqlite3")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, "-m", "demo_django", "tiktok_pixel", "snippet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert f'ttq.load("{settings.TIKTOK_PIXEL_CODE}");' in done.stdout


def test_a_bad_setting_stops_django_at_start_up_naming_it(tmp_path: Path) -> None:
    env = {**os.environ, "DEMO_DB": str(tmp_path / "demo.sqlite3"), "DEMO_CONSENT": "bogus"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, "-m", "demo_django", "check"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode != 0
    assert "TIKTOK_PIXEL_CONSENT 'bogus' is not one of 'none', 'hold', 'strict'" in done.stderr
