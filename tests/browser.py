"""Headless Chromium for the web page's tests (Playwright driving Debian's Chromium): how
it is started, so that it reaches nothing but the page (no updates, no sync, no background
traffic), and what a test does where it is missing. This folder is on sys.path (pytest
puts a conftest's folder there)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def chromium_missing() -> str | None:
    """Why the browser cannot run here, or None when it can."""
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (python) is not installed: pip install playwright"
    return None


def need_chromium() -> None:
    """Skip where Chromium or Playwright is missing, except on CI (CI=true), where the
    browser tests must run: fail there."""
    if (why := chromium_missing()) is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} (CI=true: the browser tests must run)")
    pytest.skip(why)


def launch(playwright):
    """Chromium, headless, from the system's package (Playwright downloads nothing)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
