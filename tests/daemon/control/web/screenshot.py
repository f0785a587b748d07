"""A picture of the web page for the README, taken in headless Chromium (tests/browser.py
starts it), and a call and answer to show on a page without a keyboard.

Made by hand, against a running `antiphon run --web` (its printed address):

    .venv/bin/python -c "import sys; sys.path[:0] = ['tests', 'tests/daemon/control/web']; \\
        from screenshot import screenshot; screenshot(sys.argv[1], 'docs/web-page.png')" URL
"""

from __future__ import annotations

import time
from pathlib import Path

from browser import launch

from antiphon.daemon.record.take_events import TakeEvent


def screenshot(url: str, path: str | Path, *, width: int = 1280, height: int = 900,
               settle_seconds: float = 1.5) -> Path:
    """A picture of the page at `url` (its whole height), once its roll has drawn for
    `settle_seconds`; returns the path."""
    from playwright.sync_api import sync_playwright

    path = Path(path)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": width, "height": height},
                                    device_scale_factor=2)
            page.goto(url)
            page.wait_for_function("() => window.antiphonRoll !== undefined")
            time.sleep(settle_seconds)
            page.screenshot(path=str(path), full_page=True)
        finally:
            browser.close()
    return path


KEEPS = "melody: one voice; C major (p=0.95, 92% in scale), range 48..79"


def example_take(start: float = 0.0) -> list[TakeEvent]:
    """A call of two bars and its answer, as the feed would hand them on (120 BPM), for a
    page shown without a keyboard."""
    beat = 0.5
    events = [TakeEvent(start, "tempo", detail={"bpm": 120.0, "clock": "internal"})]
    call = [(0, 1, 60, 96), (1, 1.5, 64, 84), (1.5, 2, 67, 90), (2, 3, 72, 100),
            (3, 3.5, 71, 80), (3.5, 4, 67, 76), (4, 6, 69, 92)]
    answer = [(0, 0.5, 72, 90), (0.5, 1, 74, 84), (1, 2, 76, 96), (2, 2.5, 74, 80),
              (2.5, 3, 72, 76), (3, 3.5, 71, 84), (3.5, 4, 67, 80), (4, 6, 72, 92),
              (4, 6, 64, 70)]
    for first, last, pitch, velocity in call:
        events.append(TakeEvent(start + first * beat, "call", (0x90, pitch, velocity)))
        events.append(TakeEvent(start + last * beat, "call", (0x80, pitch, 0)))
    answer_at = start + 7 * beat
    events.append(TakeEvent(start + 6.5 * beat, "answer_start",
                            detail={"due": answer_at, "keeps": KEEPS}))
    for first, last, pitch, velocity in answer:
        events.append(TakeEvent(answer_at + first * beat, "answer", (0x90, pitch, velocity)))
        events.append(TakeEvent(answer_at + last * beat, "answer", (0x80, pitch, 0)))
    return sorted(events, key=lambda event: event.seconds)
