"""The web page in headless Chromium (Playwright): it loads with the token and is refused
without it, a call and an answer pushed into the LiveRoll appear on its piano roll (read
through the page's read-only `window.antiphonRoll`, not from pixels), and moving the
temperature slider changes the steered daemon's config through the real Controller.

Skipped where Chromium or Playwright is missing; on CI (CI=true) that fails instead."""

from __future__ import annotations

import time

from browser import launch, need_chromium
from daemon_helpers import wait_until

from antiphon.daemon.record.take_events import TakeEvent

WAIT_MS = 5000
# What an answer keeps, as the daemon says it (engine/key_finding.py, texture.py).
LEANING = ("melody: one voice; no certain key, leaning to D major (p=0.91, key bias 3), "
           "range 50..81")


SHORT_KEYS = {
    "melody: one voice; C major (p=0.95, 92% in scale), range 48..79": "C major",
    "chords (40% of the call): up to 3 voices; F# minor (p=0.88, 90% in scale), range 40..90":
        "F# minor",
    "melody: one voice; no certain key, range 48..79": "none certain",
    "D dorian": "D dorian",
    "": "",
}


def test_the_page_draws_the_take_and_its_slider_sets_the_temperature(page, live, daemon,
                                                                     report_measurement):
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            stranger = browser.new_page()
            assert stranger.goto(f"http://127.0.0.1:{page.port}/").status == 403
            stranger.close()

            tab = browser.new_page(viewport={"width": 1200, "height": 900})
            problems: list[str] = []  # script errors, refused resources, CSP violations
            tab.on("pageerror", lambda error: problems.append(str(error)))
            tab.on("console", lambda message: problems.append(message.text)
                   if message.type == "error" else None)
            assert tab.goto(page.url).status == 200
            tab.wait_for_function("() => window.antiphonRoll !== undefined && "
                                  "document.getElementById('link').dataset.state === 'open'",
                                  timeout=WAIT_MS)
            assert tab.evaluate("() => location.search") == ""  # the token left the address

            pushed = time.perf_counter()
            live.take_events([
                TakeEvent(0.0, "tempo", detail={"bpm": 120.0, "clock": "internal"}),
                TakeEvent(0.05, "call", (0xB0, 64, 127)),  # the sustain pedal down
                TakeEvent(0.1, "call", (0x90, 60, 100)),
                TakeEvent(0.6, "call", (0x80, 60, 0)),
                TakeEvent(0.7, "call", (0xB0, 64, 0)),
                TakeEvent(0.8, "answer_start", detail={"due": 1.0, "keeps": LEANING}),
                TakeEvent(1.0, "answer", (0x90, 67, 90))])
            assert wait_until(lambda: tab.evaluate("() => window.antiphonRoll.counts()") ==
                              {"call": 1, "answer": 1}, 5)
            report_measurement("web page: LiveRoll push to the notes in Chromium's roll",
                               f"{(time.perf_counter() - pushed) * 1e3:.0f} ms (polled)")
            notes = tab.evaluate("() => window.antiphonRoll.notes()")
            assert [(note["role"], note["pitch"], note["start"], note["end"])
                    for note in notes] == [("call", 60, 0.1, 0.6), ("answer", 67, 1.0, None)]
            assert tab.evaluate("() => window.antiphonRoll.pedals()") == [
                {"role": "call", "start": 0.05, "end": 0.7}]
            roll = tab.locator("#roll")
            assert roll.get_attribute("data-call-notes") == "1"
            assert roll.get_attribute("data-answer-notes") == "1"
            assert tab.locator("#key").text_content() == "≈ D major"  # the key, short
            assert tab.locator("#key").get_attribute("title") == LEANING

            # The status, once a second, shows the daemon's settings on the controls.
            tab.wait_for_function("() => document.getElementById('top_p-value').textContent "
                                  "=== '0.95'", timeout=WAIT_MS)
            models = tab.locator("#model option").all_text_contents()
            assert "default" in models and "transformer" in models

            tab.locator("#temperature").fill("0.5")
            assert wait_until(lambda: daemon.config.temperature == 0.5, 5)
            tab.wait_for_function("() => document.getElementById('said').textContent"
                                  ".includes('✓')", timeout=WAIT_MS)
            tab.select_option("#texture", "melody")
            assert wait_until(lambda: daemon.config.texture == "melody", 5)
            tab.select_option("#scale-tonic", "Bb")
            tab.select_option("#scale-mode", "dorian")
            assert wait_until(lambda: daemon.config.scale == "Bb dorian", 5)
            tab.select_option("#model", "transformer")
            assert wait_until(lambda: daemon.config.model == "transformer", 5)
            for keeps, short in SHORT_KEYS.items():
                assert tab.evaluate("keeps => window.AntiphonPianoRoll.shortKey(keeps)",
                                    keeps) == short
            assert problems == []
        finally:
            browser.close()
