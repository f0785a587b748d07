"""`antiphon run --web` over the real JACK server, in headless Chromium: the page loads
with the printed token and is refused without it, a call played over JACK and its answer
appear on the page's piano roll within 100 ms of being played, and a setting moved on the
page changes the next answer.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest
from browser import launch, need_chromium
from e2e_support import BEAT, PHRASE, JackPlayer, wait_until

from antiphon.daemon.bench.page_reader import free_port, page_address

# Solo: it times Chromium drawing what was played, and Chromium beside three workers'
# daemons on two cores draws late.
pytestmark = [pytest.mark.jack, pytest.mark.solo]

SHOWN_WITHIN_SECONDS = 0.1  # a note played is on the page's roll within this
F_SHARP_MAJOR = {6, 8, 10, 11, 1, 3, 5}

# Each change of the roll's note counts, stamped with the page's wall clock (Date.now(),
# the same clock as the test's time.time()) as the roll takes it in.
WATCH_THE_ROLL = """() => {
  window.seen = [];
  const roll = document.getElementById("roll");
  const note = () => window.seen.push({call: Number(roll.dataset.callNotes),
                                       answer: Number(roll.dataset.answerNotes),
                                       at: Date.now() / 1000});
  new MutationObserver(note).observe(roll, {attributes: true,
    attributeFilter: ["data-call-notes", "data-answer-notes"]});
}"""


def first_seen(seen: list[dict], role: str, count: int) -> float | None:
    """When the page's roll first held `count` notes of `role` (wall-clock seconds)."""
    return next((row["at"] for row in seen if row[role] >= count), None)


def test_the_page_shows_the_call_and_answer_as_played_and_steers_the_next(daemon, tmp_path,
                                                                         report_measurement):
    need_chromium()
    from playwright.sync_api import sync_playwright

    port = free_port()
    process = daemon("--web", "--web-port", str(port), "--record-folder", str(tmp_path))
    url = page_address(process.lines)  # the ready line's, with its token
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
    assert refused.value.code == 403

    keys = JackPlayer()
    wall_minus_perf = time.time() - time.perf_counter()
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.goto(url)
            page.wait_for_function("() => window.antiphonRoll !== undefined")
            page.wait_for_function("() => document.getElementById('link').dataset.state"
                                   " === 'open'")
            page.evaluate(WATCH_THE_ROLL)
            played = []  # when each of the call's notes was played (wall clock)
            for pitch, beats in PHRASE:
                played.append(time.time())
                keys.keyboard.send_message([0x90, pitch, 96])
                time.sleep(beats * BEAT * 0.9)
                keys.keyboard.send_message([0x80, pitch, 0])
                time.sleep(beats * BEAT * 0.1)
            assert wait_until(lambda: keys.note_ons(), 10), process.output()
            assert keys.released(process, 8), keys.sounding()
            time.sleep(0.3)
            seen = page.evaluate("() => window.seen")
            delays = [first_seen(seen, "call", index + 1) - at
                      for index, at in enumerate(played)]
            heard = [arrived + wall_minus_perf for arrived, _ in keys.note_ons()]
            delays += [first_seen(seen, "answer", index + 1) - at
                       for index, at in enumerate(heard)]
            report_measurement(
                "web page over JACK: a note played (call) or heard (answer) to Chromium's roll",
                f"median {1e3 * sorted(delays)[len(delays) // 2]:.1f} ms, max "
                f"{1e3 * max(delays):.1f} ms over {len(delays)} notes")
            assert max(delays) < SHOWN_WITHIN_SECONDS, delays

            # The scale moved on the page holds the next answer to it.
            page.select_option("#scale-tonic", "F#")
            page.select_option("#scale-mode", "major")
            assert wait_until(lambda: "F# major" in page.inner_text("#said") or
                              _scale_is(process, "F# major"), 5), page.inner_text("#said")
            before = len(keys.note_ons())
            keys.play(PHRASE, BEAT)
            assert wait_until(lambda: len(keys.note_ons()) > before, 10), process.output()
            assert keys.released(process, 8), keys.sounding()
            answer = [message[1] for _, message in keys.note_ons()[before:]]
            assert {pitch % 12 for pitch in answer} <= F_SHARP_MAJOR, answer
        finally:
            browser.close()
            keys.close()
    assert process.terminate() == 0


def _scale_is(process, scale: str) -> bool:
    from antiphon.daemon.control.socket_server import ask

    return ask(process.socket, {"command": "status"})["status"]["settings"]["scale"] == scale
