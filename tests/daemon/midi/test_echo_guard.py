"""The feedback guard at any loop delay, in virtual time: an answer's notes sent (as the
scheduler tells the guard) come back into the input gate after `delay`, give or take a
MIDI system's jitter, while the player plays on; what the gate passes is what the loop
hears."""

from __future__ import annotations

import logging
import queue
import random
import re

import pytest

from antiphon.daemon.midi.echo_guard import EchoGuard
from antiphon.daemon.midi.input_gate import InputGate

ALL_CHANNELS = frozenset(range(1, 17))
# An answer: (seconds into it, message); a chord, repeated pitches, two velocities.
ANSWER = [
    (0.00, [0x90, 60, 81]), (0.20, [0x80, 60, 0]),
    (0.25, [0x90, 64, 73]), (0.45, [0x80, 64, 0]),
    (0.50, [0x90, 67, 89]), (0.50, [0x90, 71, 89]), (0.95, [0x80, 67, 0]),
    (0.95, [0x80, 71, 0]), (1.00, [0x90, 60, 81]), (1.40, [0x80, 60, 0]),
    (1.50, [0x90, 72, 65]), (1.75, [0x80, 72, 0]), (2.00, [0x90, 62, 81]),
    (2.60, [0x80, 62, 0]),
]
# An answer that opens with a chord and strikes its top note again and again.
CHORDS = [(0.0, [0x90, 65, 100]), (0.0, [0x90, 69, 100]), (0.0, [0x90, 74, 100]),
          (0.25, [0x80, 65, 0]), (0.25, [0x80, 69, 0]), (0.25, [0x80, 74, 0]),
          (0.25, [0x90, 74, 100]), (0.5, [0x80, 74, 0]), (0.5, [0x90, 74, 100]),
          (0.75, [0x80, 74, 0]), (0.75, [0x90, 60, 100]), (1.0, [0x80, 60, 0])]
# The player meanwhile: other pitches, or the answer's pitches at other velocities.
PLAYER = [(0.33, [0x90, 50, 70]), (0.61, [0x80, 50, 0]), (1.12, [0x90, 64, 100]),
          (1.3, [0x80, 64, 0]), (2.2, [0x90, 48, 55]), (2.9, [0x80, 48, 0])]


def run(delay: float | None, player=(), answers=1, jitter=0.004, seed=1, thru=False,
        lost=(), late=None, answer_played=ANSWER):
    """Plays `answers` answers 4 s apart through a loop of `delay` (None: no loop) beside
    the player's `player` messages; returns the gate, and what it passed (the loop's
    inbox) as (arrived, message, whose) with whose "echo" or "player". The echoes of the
    first answer's messages at the indices in `lost` never come back; those in `late`
    (index -> seconds) come back that much later (a loaded machine)."""
    late = late or {}
    rng = random.Random(seed)
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    gate = InputGate(inbox, ALL_CHANNELS)
    guard = gate.echo_guard = EchoGuard()
    now = [0.0]
    if thru:
        gate.thru = lambda message: guard.sent(message, now[0])
    timeline = []  # (time, order, what, message)
    for answer in range(answers):
        start = 10.0 + 4.0 * answer
        for index, (offset, message) in enumerate(answer_played):
            timeline.append((start + offset, 0, "send", message))
            if delay is not None and not (answer == 0 and index in lost):
                back = start + offset + delay + rng.uniform(0, jitter)
                timeline.append((back + late.get(index, 0) * (answer == 0), 1, "echo",
                                 message))
        for offset, message in player:
            timeline.append((start + offset, 1, "player", message))
    passed = []
    for moment, _, what, message in sorted(timeline, key=lambda item: item[:2]):
        now[0] = moment
        if what == "send":
            guard.sent(message, at=moment)
            continue
        before = inbox.qsize()
        gate(moment, list(message))
        while inbox.qsize() > before:
            arrived, each = inbox.get_nowait()
            passed.append((arrived, each, what))
    return gate, passed


def struck(passed, whose):
    return [message for _, message, who in passed if who == whose and message[0] & 0xF0 == 0x90
            and message[2] > 0]


@pytest.mark.parametrize("delay", [0.0, 0.03, 0.08, 0.2, 0.5, 1.0])
def test_an_answer_back_round_a_loop_of_any_delay_is_never_heard(delay, caplog):
    caplog.set_level(logging.WARNING, "antiphon.daemon.midi.echo_guard")
    gate, passed = run(delay, PLAYER, answers=3)
    assert struck(passed, "echo") == []  # no echo strikes a key: nothing barges in
    assert struck(passed, "player") == [m for _, m in PLAYER if m[2] > 0] * 3
    assert gate.stats.echoes >= 3 * len(ANSWER) - 1
    told = [r.getMessage() for r in caplog.records if "feedback loop" in r.getMessage()]
    assert len(told) == 1, told  # said once, with its delay
    said = float(re.search(r"input (\d+) ms after", told[0]).group(1)) / 1e3
    assert said == pytest.approx(delay, abs=0.01) or delay <= 0.05 and said <= 0.05


@pytest.mark.parametrize("delay", [0.08, 0.4, 1.0])
def test_the_loops_delay_is_learnt_from_the_answers_notes(delay):
    gate, _ = run(delay, answers=1, jitter=0.01)
    (learnt,) = gate.echo_guard.loop_delays
    assert learnt == pytest.approx(delay, abs=0.015)


@pytest.mark.parametrize("delay", [0.08, 0.4, 1.0])
def test_a_loop_that_loses_the_answers_opening_on_the_way_is_still_recognised(delay, caplog):
    """A MIDI system under load lost the opening chord's echoes: the notes after it, back
    at one delay, are recognised all the same (two of them beside a third)."""
    caplog.set_level(logging.WARNING, "antiphon.daemon.midi.echo_guard")
    gate, passed = run(delay, PLAYER, answers=2, lost={0, 1, 2}, answer_played=CHORDS)
    assert struck(passed, "echo") == []
    assert struck(passed, "player") == [m for _, m in PLAYER if m[2] > 0] * 2
    assert len([r for r in caplog.records if "feedback loop" in r.getMessage()]) == 1


@pytest.mark.parametrize(("delay", "later", "first"), [
    (0.001, 0.08, 4), (0.08, 0.07, 6), (0.4, 0.09, 8), (1.0, 0.25, 8), (0.4, 0.09, 4)])
def test_echoes_late_on_a_loaded_machine_are_the_same_loop_said_once(delay, later, first,
                                                                     caplog):
    """A burst of echoes comes back later than the loop's delay (the loop's thread, or
    the reader here, woke late): they are the same loop's, dropped, and not a second one."""
    caplog.set_level(logging.DEBUG, "antiphon.daemon.midi.echo_guard")
    late = dict.fromkeys(range(first, first + 4), later)
    gate, passed = run(delay, PLAYER, answers=3, late=late)
    assert struck(passed, "echo") == []
    told = [r for r in caplog.records if "feedback loop" in r.getMessage()]
    assert len([r for r in told if r.levelno == logging.WARNING]) == 1
    assert all(abs(each - delay) <= later + 0.01 for each in gate.echo_guard.loop_delays)


def test_a_loop_is_recognised_through_a_jittery_system():
    gate, passed = run(0.3, PLAYER, answers=3, jitter=0.025, seed=5)
    assert struck(passed, "echo") == []
    assert struck(passed, "player") == [m for _, m in PLAYER if m[2] > 0] * 3


def test_without_a_loop_the_player_is_heard_even_playing_the_answers_notes():
    """The player copies the answer's notes, to the velocity, each a human lag after it:
    the answer's other notes did not come back at one delay, so no loop is taken up."""
    rng = random.Random(3)
    lags = {pitch: rng.uniform(0.2, 0.6) for pitch in range(128)}
    copy = sorted((offset + lags[message[1]], message) for offset, message in ANSWER[2:9]
                  if message[1] != ANSWER[0][1][1])  # (the opening note: see below)
    gate, passed = run(None, copy, answers=2)
    assert struck(passed, "player") == [m for _, m in copy if m[2] > 0] * 2
    assert gate.echo_guard.loop_delays == [] and gate.stats.echoes == 0


def test_a_periodic_player_with_thru_is_not_taken_for_a_loop():
    """An arpeggiator at one velocity, passed through by MIDI thru: each note comes again,
    identical, a steady period after thru sent it. Thru's sends teach no loop."""
    arpeggio = []
    for step in range(24):
        pitch = (60, 64, 67)[step % 3]
        arpeggio += [(0.25 * step, [0x90, pitch, 100]), (0.25 * step + 0.1, [0x80, pitch, 0])]
    gate, passed = run(None, arpeggio, answers=1, thru=True)
    assert len(struck(passed, "player")) == 24
    assert gate.echo_guard.loop_delays == [] and gate.stats.echoes == 0


def test_thrus_own_echo_at_a_loops_delay_is_dropped_once_the_answer_taught_it():
    """With thru on, the player's notes go round the loop too: once the answer's notes
    taught the guard the loop, they come back at its delay and are dropped (else thru sends
    them again, for ever)."""
    late = [(3.0, [0x90, 55, 70]), (3.2, [0x80, 55, 0])]
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    gate = InputGate(inbox, ALL_CHANNELS)
    guard = gate.echo_guard = EchoGuard()
    now = [0.0]
    gate.thru = lambda message: guard.sent(message, now[0])
    for offset, message in ANSWER[:6]:  # the answer's notes, back 0.2 s later
        guard.sent(message, at=10.0 + offset)
    events = sorted([(10.0 + o + 0.2, m) for o, m in ANSWER[:6]] +
                    [(10.0 + o, m) for o, m in late] +
                    [(10.0 + o + 0.2, m) for o, m in late])  # thru's, back round the loop
    for now[0], message in events:
        gate(now[0], list(message))
    heard = []
    while not inbox.empty():
        heard.append(inbox.get_nowait()[1])
    assert heard == [[0x90, 55, 70], [0x80, 55, 0]]  # the player's, once


def test_each_send_comes_back_once_and_a_release_matches_either_spelling():
    guard = EchoGuard()
    guard.sent([0x90, 60, 100], at=10.0)
    guard.sent([0x80, 60, 0], at=10.2)
    assert guard.is_echo([0x90, 60, 100], 10.3)  # an opening note back: taken for an echo
    assert not guard.is_echo([0x90, 60, 100], 10.35)  # each send comes back once
    assert guard.is_echo([0x90, 60, 0], 10.5)  # the release, as a velocity-0 note-on
    assert guard.loop_delays == [pytest.approx(0.3)]


def test_knob_feedback_back_round_a_slow_loop_is_dropped_once_a_loop_is_known():
    guard = EchoGuard()
    for step, message in enumerate([[0x90, 60, 100], [0x80, 60, 0]]):
        guard.sent(message, at=10.0 + 0.1 * step)
        guard.is_echo(message, 10.25 + 0.1 * step)
    guard.sent([0xB0, 21, 64], at=11.0)
    assert guard.is_echo([0xB0, 21, 64], 11.25)
    guard.sent([0xB0, 21, 65], at=12.0)
    assert not guard.is_echo([0xB0, 21, 65], 12.6)  # the knob's own move, not at the delay


def test_an_exact_copy_of_the_answers_opening_note_is_taken_for_its_echo():
    """The price of catching a loop's first echo before it barges in: an answer's opening
    note has nothing sent before it to judge it by, so the same note at the same velocity
    within MAX_LOOP_SECONDS of it is taken for its echo. The player's next note is heard."""
    player = [(0.6, [0x90, 60, 81]), (0.7, [0x80, 60, 0]), (0.8, [0x90, 62, 81])]
    gate, passed = run(None, player, answers=1)
    assert struck(passed, "player") == [[0x90, 62, 81]]


@pytest.mark.parametrize("delay", [0.4, 1.0])
def test_an_answer_that_repeats_its_opening_before_the_loop_brings_it_back(delay):
    """The opening chord's top note struck again and again before the first strike comes
    back round a slow loop: each comes back matched to its own send."""
    gate, passed = run(delay, answer_played=CHORDS)
    assert passed == [] and gate.echo_guard.loop_delays == [pytest.approx(delay, abs=0.01)]


@pytest.mark.parametrize("delay", [0.08, 0.4, 1.0])
def test_an_answer_of_one_long_note_teaches_the_loop_by_its_release(delay, caplog):
    """One note held two seconds: its release, back at the delay its strike came back at,
    is the second send that recognises the loop."""
    caplog.set_level(logging.WARNING, "antiphon.daemon.midi.echo_guard")
    long_note = [(0.0, [0x90, 55, 100]), (2.0, [0x80, 55, 0])]
    gate, passed = run(delay, answer_played=long_note)
    assert passed == [] and gate.echo_guard.loop_delays == [pytest.approx(delay, abs=0.01)]
    assert len([r for r in caplog.records if "feedback loop" in r.getMessage()]) == 1


# An answer of one note struck again and again at one velocity, every 100 ms.
REPEATED = [item for step in range(12) for item in
            ((0.1 * step, [0x90, 60, 100]), (0.1 * step + 0.05, [0x80, 60, 0]))]


@pytest.mark.parametrize("delay", [0.0, 0.1, 0.2, 0.3, 0.75, 1.0, 1.2])
def test_a_repeated_note_back_round_a_loop_of_its_own_period_is_matched_in_order(delay, caplog):
    """Identical notes every 100 ms through a loop of a multiple of that: each echo arrives
    just as a later strike of the same bytes leaves. A loop keeps the order, so each is
    the oldest send's not back yet; paired with the send just gone, the echoes took a
    quick loop at 3 ms, and the last ones, with no send left, struck as the player's."""
    caplog.set_level(logging.WARNING, "antiphon.daemon.midi.echo_guard")
    gate, passed = run(delay, PLAYER, answers=2, answer_played=REPEATED)
    assert struck(passed, "echo") == []
    assert struck(passed, "player") == [m for _, m in PLAYER if m[2] > 0] * 2
    told = [r.getMessage() for r in caplog.records if "feedback loop" in r.getMessage()]
    assert len(told) == 1, told
    said = float(re.search(r"input (\d+) ms after", told[0]).group(1)) / 1e3
    assert said == pytest.approx(delay, abs=0.01) or delay <= 0.05 and said <= 0.05


@pytest.mark.parametrize("delays", [(0.0, 0.5), (0.08, 0.6), (0.2, 1.0), (0.3, 0.6)])
def test_two_loops_at_once_bring_each_note_back_twice_and_neither_is_heard(delays, caplog):
    """A synth's thru wired back and a DAW monitoring Antiphon's track: every note comes
    back twice, round a short loop and a long one. Each send matched once in all, the long
    loop's echoes found their sends taken and struck as the player's, barging in for ever."""
    caplog.set_level(logging.WARNING, "antiphon.daemon.midi.echo_guard")
    rng = random.Random(2)
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    gate = InputGate(inbox, ALL_CHANNELS)
    guard = gate.echo_guard = EchoGuard()
    timeline = []
    for answer in range(3):
        start = 10.0 + 4.0 * answer
        for offset, message in ANSWER:
            timeline.append((start + offset, 0, "send", message))
            timeline += [(start + offset + delay + rng.uniform(0, 0.004), 1, "echo", message)
                         for delay in delays]
        timeline += [(start + offset, 1, "player", message) for offset, message in PLAYER]
    passed = []
    for moment, _, what, message in sorted(timeline, key=lambda item: item[:2]):
        if what == "send":
            guard.sent(message, at=moment)
            continue
        gate(moment, list(message))
        while not inbox.empty():
            passed.append((moment, inbox.get_nowait()[1], what))
    assert struck(passed, "echo") == []
    assert struck(passed, "player") == [m for _, m in PLAYER if m[2] > 0] * 3
    assert len([r for r in caplog.records if "feedback loop" in r.getMessage()]) == 1


@pytest.mark.parametrize("delay", [0.08, 0.4, 1.0])
@pytest.mark.parametrize("thru", [False, True])
def test_the_answers_release_back_while_the_player_holds_its_pitch_cuts_nothing(delay, thru):
    """The player strikes the answer's last pitch before that note's release comes back
    round a known loop: the echo is no release of the player's key (it cut the player's
    note short, for the loop and through MIDI thru on the synth); the player's own
    release, later, is."""
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    gate = InputGate(inbox, ALL_CHANNELS)
    guard = gate.echo_guard = EchoGuard()
    thru_sent = []
    if thru:
        gate.thru = lambda message: (thru_sent.append(message), guard.sent(message, now))
    last_release = max(offset for offset, message in ANSWER if message[0] == 0x80)
    pitch = next(m[1] for o, m in ANSWER if o == last_release and m[0] == 0x80)
    strike = 10.0 + last_release + delay / 2  # before the release comes back
    timeline = [(10.0 + offset, 0, "send", message) for offset, message in ANSWER]
    timeline += [(10.0 + offset + delay, 1, "in", message) for offset, message in ANSWER]
    timeline += [(strike, 1, "in", [0x90, pitch, 50]), (strike + 1.5, 1, "in", [0x80, pitch, 0])]
    for now, _, what, message in sorted(timeline, key=lambda item: item[:2]):
        if what == "send":
            guard.sent(message, at=now)
        else:
            gate(now, list(message))
    heard = []
    while not inbox.empty():
        heard.append(inbox.get_nowait())
    assert [message for _, message in heard] == [[0x90, pitch, 50], [0x80, pitch, 0]]
    assert heard[-1][0] == pytest.approx(strike + 1.5)
    if thru:
        assert thru_sent == [[0x90, pitch, 50], [0x80, pitch, 0]]
