"""The clock options over the real JACK server: `--clock auto` (its own tempo until a DAW's
clock comes, then the DAW's beats), `--answer-on bar` (answers start on the DAW's
downbeats) and a DAW that starts its song over while an answer plays (nothing hangs)."""

from __future__ import annotations

import time

import pytest
from e2e_support import (
    DUE_TOLERANCE_SECONDS,
    PHRASE,
    JackPlayer,
    answer_onsets_due,
    call_and_hear_answer,
    wait_until,
)

from antiphon.daemon.bench.clock import ClockSource, arrival_beats
from antiphon.daemon.control.socket_server import ask
from antiphon.daemon.play.timing_trace import TimingTrace

# Solo: these tests follow a DAW's clock to its downbeats; beside other JACK workers on two
# cores, pulses come late or lost often enough to move a count for a while.
pytestmark = [pytest.mark.jack, pytest.mark.solo]

SOURCE_BPM = 100.0
BEAT = 60.0 / SOURCE_BPM


def tempo(process) -> dict:
    return ask(process.socket, {"command": "status"})["status"]["tempo"]


def answer_once(keys: JackPlayer, process, beat_seconds: float) -> float:
    """Play the phrase; the moment the answer's first note was heard."""
    return call_and_hear_answer(keys, process, PHRASE, beat_seconds)


def grid_distances(times: list[float], grid: list[float]) -> list[float]:
    return [min(abs(t - g) for g in grid) for t in times]


def test_auto_plays_its_own_tempo_until_a_clock_comes_then_the_daws_beats(daemon, tmp_path):
    trace_path = tmp_path / "trace.jsonl"
    process = daemon("--clock", "auto", "--bpm", "150", "--max-opening-rest-beats", "0",
                     "--min-answer-beats", "2", "--max-answer-beats", "2",
                     "--timing-trace", str(trace_path))
    keys = JackPlayer()
    source = None
    try:
        assert tempo(process)["source"].startswith("internal (auto")
        answer_once(keys, process, 0.4)  # answered on its own clock: no DAW yet
        assert tempo(process)["bpm"] == pytest.approx(150.0)
        source = ClockSource(SOURCE_BPM)
        source.start()
        assert wait_until(lambda: tempo(process)["source"] == "midi clock", 5), tempo(process)
        time.sleep(1.0)  # a beat of pulses for the tempo
        assert tempo(process)["bpm"] == pytest.approx(SOURCE_BPM, rel=0.01)
        refused = ask(process.socket, {"command": "set", "key": "bpm", "value": "90"})
        assert not refused["ok"] and "follows the MIDI clock" in refused["error"], refused
        for _ in range(2):
            answer_once(keys, process, BEAT)
    finally:
        if source is not None:
            source.close()
        keys.close()
    process.terminate()
    trace = TimingTrace.read(trace_path)
    firsts = answer_onsets_due(trace)
    assert len(firsts) == 3
    # Once the clock is the DAW's, the answers start on its beats as they reached the daemon.
    on_grid = grid_distances(firsts[1:], arrival_beats(trace, source.beat_times))
    assert max(on_grid) < DUE_TOLERANCE_SECONDS, on_grid
    assert "MIDI clock: following it at" in process.output()


def test_auto_plays_on_its_own_when_the_daws_clock_stops_and_goes(daemon):
    """The DAW sends Stop and quits: with --clock auto the daemon is on its own again (its
    last tempo, the call's grid) and answers, rather than wait for a Start that never
    comes."""
    process = daemon("--clock", "auto", "--bpm", "150", "--max-answer-beats", "2")
    keys = JackPlayer()
    source = ClockSource(SOURCE_BPM)
    try:
        source.start()
        assert wait_until(lambda: tempo(process)["source"] == "midi clock", 5), tempo(process)
        time.sleep(1.0)
        source.close()  # Stop, and the DAW is gone
        assert wait_until(lambda: tempo(process)["source"].startswith("internal (auto"), 5), (
            tempo(process))
        assert tempo(process)["bpm"] == pytest.approx(SOURCE_BPM, rel=0.01)  # the last one
        answer_once(keys, process, BEAT)
    finally:
        source.close()  # a second time changes nothing
        keys.close()
    process.wait_for(r"MIDI clock gone: playing on its own", timeout=1)


def test_answer_on_bar_starts_answers_on_the_daws_downbeats(daemon, tmp_path):
    trace_path = tmp_path / "trace.jsonl"
    process = daemon("--clock", "midi", "--answer-on", "bar", "--max-opening-rest-beats", "0",
                     "--min-answer-beats", "2", "--max-answer-beats", "4",
                     "--timing-trace", str(trace_path))
    source = ClockSource(SOURCE_BPM)
    keys = JackPlayer()
    try:
        source.start()
        time.sleep(1.0)
        for offset in (0.0, 1.3):  # calls ending at different places in the bar
            time.sleep(offset * BEAT)
            answer_once(keys, process, BEAT)
    finally:
        source.close()
        keys.close()
    process.terminate()
    trace = TimingTrace.read(trace_path)
    beats = arrival_beats(trace, source.beat_times)
    firsts = answer_onsets_due(trace)
    assert len(firsts) == 2
    downbeats = beats[::4]  # the source's beat 0 is the first pulse after its Start
    assert max(grid_distances(firsts, downbeats)) < DUE_TOLERANCE_SECONDS, (firsts, downbeats)
    # ...and not merely on a beat: every beat that is not a downbeat is far from them.
    off_beats = [b for index, b in enumerate(beats) if index % 4]
    assert min(grid_distances(firsts, off_beats)) > BEAT / 2


def test_a_daw_starting_its_song_over_mid_answer_leaves_no_note_hanging(daemon):
    process = daemon("--clock", "midi", "--min-answer-beats", "16", "--max-answer-beats", "16")
    source = ClockSource(120.0)
    keys = JackPlayer()
    try:
        source.start()
        time.sleep(1.0)
        keys.play(PHRASE, 0.5)
        assert wait_until(lambda: keys.note_ons(), 10), process.output()
        source.restart_transport()  # Start while playing: beat 0 again
        assert keys.released(process, 1), keys.sounding()
        time.sleep(1.0)
        assert keys.sounding() == {}  # nothing of the old answer comes back
        process.wait_for(r"MIDI Start: the DAW's position moved", timeout=2)
        heard = len(keys.note_ons())
        keys.play(PHRASE, 0.5)  # the next call is answered, on the new count
        assert wait_until(lambda: len(keys.note_ons()) > heard, 10), process.output()
    finally:
        source.close()
        keys.close()
        process.terminate()


def test_clock_in_takes_the_clock_from_a_port_of_its_own(daemon, tmp_path):
    """The DAW's clock on one port, the keyboard's notes on the input: the daemon connects
    its clock input to the named port and answers the keyboard on the clock's beats."""
    trace_path = tmp_path / "trace.jsonl"
    process = daemon("--clock-in", "bench clock", "--max-opening-rest-beats", "0",
                     "--min-answer-beats", "2", "--max-answer-beats", "2",
                     "--timing-trace", str(trace_path))
    source = ClockSource(SOURCE_BPM, own_port=True)  # reaches only the clock input
    keys = JackPlayer()
    try:
        source.start()
        assert wait_until(lambda: tempo(process)["source"] == "midi clock", 5), tempo(process)
        ports = ask(process.socket, {"command": "status"})["status"]["ports"]
        assert ports["clock_in"]["state"] == "connected", ports
        assert ports["clock_in"]["to"].startswith("bench clock"), ports
        time.sleep(1.0)
        assert tempo(process)["bpm"] == pytest.approx(SOURCE_BPM, rel=0.01)
        answer_once(keys, process, BEAT)
    finally:
        source.close()
        keys.close()
    process.terminate()
    trace = TimingTrace.read(trace_path)
    firsts = answer_onsets_due(trace)
    assert len(firsts) == 1
    on_grid = grid_distances(firsts, arrival_beats(trace, source.beat_times))
    assert max(on_grid) < DUE_TOLERANCE_SECONDS, on_grid
    assert "taking MIDI clock from 'bench clock" in process.output()


def test_song_position_continue_and_a_tempo_change_mid_call_keep_the_daws_bars(daemon,
                                                                               tmp_path):
    """The DAW stops, moves its song position to a bar line other than its count's, and
    continues at 90 BPM; the player's call is cut across by a change to 140 BPM. The answer
    starts on a downbeat of the song as the DAW numbers it, at the new tempo."""
    trace_path = tmp_path / "trace.jsonl"
    process = daemon("--clock", "midi", "--answer-on", "bar", "--max-opening-rest-beats",
                     "0", "--min-answer-beats", "2", "--max-answer-beats", "2",
                     "--timing-trace", str(trace_path))
    source = ClockSource(90.0)
    keys = JackPlayer()
    try:
        source.start()
        time.sleep(1.5)
        source.stop_transport()
        time.sleep(0.3)
        # The second beat of a bar some way on: the DAW's bars move against the count so
        # far (by a beat and however far into a beat it stopped), so a daemon deaf to the
        # position would put its downbeats off the DAW's.
        target = (source.beat_numbers[-1] // 4 + 3) * 4 + 1
        source.song_position(target * 4)
        time.sleep(0.1)
        source.continue_transport()
        time.sleep(1.0)
        resumed = len(source.beat_times)
        keys.play(PHRASE[:3], 60.0 / 90.0)
        source.change(140.0)  # mid-call
        call_and_hear_answer(keys, process, PHRASE[3:], 60.0 / 140.0)
        assert tempo(process)["bpm"] == pytest.approx(140.0, rel=0.01)
    finally:
        source.close()
        keys.close()
    process.terminate()
    trace = TimingTrace.read(trace_path)
    (first,) = answer_onsets_due(trace)
    beats = arrival_beats(trace, source.beat_times)[resumed:]
    numbers = source.beat_numbers[resumed:]
    assert numbers[0] > target  # counted from the song position
    nearest = min(range(len(beats)), key=lambda index: abs(beats[index] - first))
    assert abs(beats[nearest] - first) < DUE_TOLERANCE_SECONDS, (first, beats[nearest])
    assert numbers[nearest] % 4 == 0, numbers[nearest]  # the DAW's downbeat


def test_clock_in_ignores_the_clock_and_transport_arriving_on_the_note_input(daemon):
    """A keyboard with its own clock (or an arpeggiator) sends 90 BPM pulses, Start and then
    Stop into the note input, beside the DAW's 150 BPM clock on --clock-in: the tempo is
    the DAW's (not the two added, 240), the keyboard's Stop does not silence the daemon,
    and what was ignored is counted."""
    process = daemon("--clock-in", "bench clock:clock", "--max-opening-rest-beats", "0",
                     "--min-answer-beats", "2", "--max-answer-beats", "2")
    daw = ClockSource(150.0, own_port=True)  # "bench clock:clock", the clock input's
    keys = JackPlayer()
    keyboard = None
    try:
        daw.start()
        assert wait_until(lambda: tempo(process)["source"] == "midi clock", 5), tempo(process)
        keyboard = ClockSource(90.0)  # "bench clock-01:clock", into "Antiphon In"
        keyboard.start()
        time.sleep(1.5)
        keyboard.stop_transport()  # its pulses go on, as a stopped device's do
        time.sleep(1.0)
        assert tempo(process)["bpm"] == pytest.approx(150.0, rel=0.02), tempo(process)
        assert tempo(process)["running"], tempo(process)
        answer_once(keys, process, 0.4)  # answered: the keyboard's Stop is not the DAW's
        counters = ask(process.socket, {"command": "status"})["status"]["counters"]
        assert counters["foreign_clock"] > 90 * 24 / 60, counters  # a second of pulses at least
    finally:
        daw.close()
        if keyboard is not None:
            keyboard.close()
        keys.close()
    process.terminate()
