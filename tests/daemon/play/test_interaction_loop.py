"""The daemon's interaction loop with its real scheduler and clock, in virtual time.

Only the model is a stand-in (daemon_fakes.FakeSession, paced in virtual seconds by
virtual_play.PacedSession where a test needs a slow one). The player, the clock, the loop
and the scheduler share one VirtualTime: every due time, silence and push is checked in
virtual seconds, exactly as it would happen in real ones, without waiting for them.
"""

from pathlib import Path
from types import SimpleNamespace

import pytest
from daemon_fakes import FakeSession
from daemon_helpers import unmatched_note_ons
from virtual_play import PacedSession, VirtualInput, VirtualOutput, VirtualTime

from antiphon.daemon.config.daemon_config import DaemonConfig
from antiphon.daemon.midi.loopback import MessageRecorder
from antiphon.daemon.play.clock import Clock
from antiphon.daemon.service.daemon import Daemon
from antiphon.engine.key_finding import find_key

BPM = 240.0  # a beat is 0.25 s
BEAT = 60.0 / BPM
CONFIG = DaemonConfig(bpm=BPM, silence_beats=1.0, min_answer_beats=2.0, max_answer_beats=4.0,
                      grid_beats=1.0, temperature=0.9, channel=3)


class Rig:
    """A daemon over loopback ports, a player feeding it and a recorder listening."""

    def __init__(self, time: VirtualTime, session: FakeSession,
                 config: DaemonConfig = CONFIG) -> None:
        self.time = time
        self.player = VirtualInput(time, "Antiphon In")
        self.recorder = MessageRecorder()
        self.clock = Clock(config.bpm, time_source=time)
        self.session = session
        self.daemon = Daemon(config, session, self.player,
                             VirtualOutput(time, self.recorder, "Antiphon Out"), self.clock)

    def play(self, pitches: list[int], beats_each: float = 0.5) -> float:
        """Play a legato-ish line; returns the moment of the last release."""
        for pitch in pitches:
            self.player.send([0x90, pitch, 100])
            self.time.sleep(beats_each * BEAT * 0.9)
            self.player.send([0x80, pitch, 0])
            self.time.sleep(beats_each * BEAT * 0.1)
        return self.time.now()

    def wait_until(self, condition, timeout: float = 5.0) -> bool:
        """Wait up to `timeout` virtual seconds for `condition()`."""
        return self.time.wait_until(condition, timeout)

    def note_ons(self) -> list[tuple[float, list[int]]]:
        return [(t, m) for t, m in self.recorder.messages() if m[0] & 0xF0 == 0x90 and m[2]]

    def messages(self) -> list[list[int]]:
        return [m for _, m in self.recorder.messages()]


@pytest.fixture
def rig(virtual_time):
    rigs = []

    def make(session: FakeSession | None = None, config: DaemonConfig = CONFIG) -> Rig:
        made = Rig(virtual_time, session or FakeSession(), config)
        rigs.append(made)
        made.daemon.start()
        return made

    yield make
    for made in rigs:
        made.daemon.stop()  # its threads end with it, whatever the test did


def test_a_phrase_gets_an_answer_on_the_grid(rig):
    r = rig()
    phrase_end = r.play([60, 62, 64, 65, 67, 69])  # 3 beats
    assert r.wait_until(lambda: r.daemon.loop.stats.answers_finished == 1, timeout=10)
    # The session heard the whole call, in order, on its timeline.
    observed = r.session.observed
    assert [e.pitch for e in observed if e.velocity] == [60, 62, 64, 65, 67, 69]
    assert [e.tick for e in observed] == sorted(e.tick for e in observed)
    (start_tick, length_ticks, temperature) = r.session.generated[0]
    assert length_ticks == 3 * 24  # about as long as the call
    assert (start_tick - observed[0].tick) % 24 == 0  # on the beat, counted from the call
    assert temperature == 0.9
    first_arrival, first = r.note_ons()[0]
    assert first[0] == 0x92  # --channel 3
    delay = first_arrival - phrase_end
    # silence (1 beat) + up to one beat to the grid, plus a loose margin for a slow machine
    assert BEAT * 0.9 <= delay <= 2 * BEAT + 0.1
    beats_after_call_start = r.clock.beats_at(first_arrival) - observed[0].tick / 24
    assert beats_after_call_start == pytest.approx(round(beats_after_call_start), abs=0.1)
    assert unmatched_note_ons(r.messages()) == {}


def test_barge_in_releases_the_answer_and_drops_the_rest(rig):
    r = rig(config=DaemonConfig(bpm=BPM, min_answer_beats=8, max_answer_beats=8))
    r.play([60, 64, 67])
    assert r.wait_until(lambda: len(r.note_ons()) >= 2, timeout=10)
    r.player.send([0x90, 72, 100])  # the player comes back in
    assert r.wait_until(lambda: r.daemon.loop.stats.barge_ins == 1)
    assert r.wait_until(lambda: unmatched_note_ons(r.messages()) == {})
    assert r.daemon.scheduler.pending() == 0
    answered = len(r.note_ons())
    r.time.sleep(4 * BEAT)
    assert len(r.note_ons()) == answered, "the rest of the answer was dropped"
    # The session was rewound to the moment the player came in, inside the answer, and
    # the barge-in note is observed right there: the model forgets what was not heard.
    (rewound_to,) = r.session.rewinds
    start, length, _ = r.session.generated[0]
    assert start < rewound_to < start + length
    barge_in = r.session.observed[-1]
    assert barge_in.pitch == 72
    assert barge_in.tick == rewound_to
    assert r.session.opening_rests == [12]  # the default half beat, in ticks
    r.player.send([0x80, 72, 0])
    assert r.wait_until(lambda: len(r.session.generated) == 2, timeout=10)  # answered again


def test_late_generation_pushes_the_answer_to_the_next_grid_point(rig, virtual_time):
    slow = PacedSession(virtual_time, step_delay_seconds=1.5 * BEAT)  # its first note: late
    r = rig(slow)
    r.play([60, 62])
    assert r.wait_until(lambda: r.daemon.loop.stats.late_answers == 1, timeout=10)
    assert r.wait_until(lambda: len(r.note_ons()) >= 1)
    first_arrival, _ = r.note_ons()[0]
    planned = slow.generated[0][0] / 24  # session and clock agree before any push
    pushed_by = r.clock.beats_at(first_arrival) - planned
    assert 1.0 <= round(pushed_by, 1) <= 2.0
    assert pushed_by == pytest.approx(round(pushed_by), abs=0.1)  # still on the grid
    assert r.daemon.loop.stats.late_beats >= 1.0


def test_a_model_slower_than_the_tempo_begins_later_and_then_plays_in_time(rig, virtual_time):
    slow = PacedSession(virtual_time, step_delay_seconds=0.7 * BEAT)  # a beat takes 1.4 beats
    r = rig(slow)
    r.play([60, 62])
    assert r.wait_until(lambda: r.daemon.loop.stats.answers_finished == 1, timeout=10)
    late_in_first = r.daemon.loop.stats.late_events
    assert late_in_first >= 1  # the first answer streamed behind its own notes
    r.play([64, 65])
    assert r.wait_until(lambda: r.daemon.loop.stats.answers_finished == 2, timeout=10)
    assert r.daemon.loop.stats.late_events == late_in_first  # begun later: none late


class FiledSession(PacedSession):
    """A stand-in whose model has a file, as a loaded model has: its pace is kept by it."""

    def __init__(self, time: VirtualTime, path: str, step_delay_seconds: float = 0.0) -> None:
        super().__init__(time, step_delay_seconds=step_delay_seconds)
        self.model = SimpleNamespace(path=Path(path), device="cpu")


def test_a_slow_model_swapped_out_and_back_begins_its_first_answer_in_time(rig, virtual_time):
    r = rig(FiledSession(virtual_time, "slow.onnx", step_delay_seconds=0.7 * BEAT))
    stats = r.daemon.loop.stats
    r.play([60, 62])
    assert r.wait_until(lambda: stats.answers_finished == 1, timeout=10)
    late_while_learning = stats.late_events
    assert late_while_learning >= 1
    r.daemon.swap_session(FiledSession(virtual_time, "fast.onnx"), "fast")
    r.play([64, 65])
    assert r.wait_until(lambda: stats.answers_finished == 2, timeout=10)
    assert stats.late_events == late_while_learning  # a fast model: none late
    r.daemon.swap_session(FiledSession(virtual_time, "slow.onnx", step_delay_seconds=0.7 * BEAT),
                            "slow")
    r.play([67, 69])
    assert r.wait_until(lambda: stats.answers_finished == 3, timeout=10)
    assert stats.late_events == late_while_learning  # its pace was kept: begun later


def test_a_pedal_caught_again_or_a_key_let_go_while_an_answer_is_sampled_cuts_nothing(
        rig, virtual_time):
    """Legato pedalling after the call, or a late release: nobody came in, so the answer is
    sampled whole (only a struck key or the DAW cuts it short)."""
    session = PacedSession(virtual_time, step_delay_seconds=0.05)  # 8 notes: 0.8 s
    r = rig(session, config=DaemonConfig(bpm=BPM, min_answer_beats=4, max_answer_beats=4,
                                         channel=3))
    r.play([60, 62])
    assert r.wait_until(lambda: len(session.generated) == 1, timeout=10)
    r.player.send([0xB0, 64, 127])  # the pedal caught again, 40 ms after the call ended
    r.player.send([0x80, 61, 0])  # a release of a key never struck
    assert r.wait_until(lambda: r.daemon.loop.stats.answers_finished == 1, timeout=10)
    assert r.daemon.loop.stats.barge_ins == 0
    answer = [m for m in r.messages() if m[0] == 0x92 and m[2]]  # the answer's channel 3
    assert len(answer) == 8, answer  # 4 beats, 2 notes a beat: all of it
    r.player.send([0xB0, 64, 0])


def test_stop_during_an_answer_releases_every_note(rig):
    r = rig(config=DaemonConfig(bpm=BPM, min_answer_beats=8, max_answer_beats=8))
    r.play([60, 64])
    assert r.wait_until(lambda: r.daemon.scheduler.sounding() != [], timeout=10)
    r.daemon.stop()
    assert unmatched_note_ons(r.messages()) == {}
    assert r.daemon.scheduler.pending() == 0


class CrashingSession(FakeSession):
    """Plays one long note, then fails in the middle of its answer."""

    def __init__(self, time: VirtualTime) -> None:
        super().__init__()
        self.time = time

    def generate(self, start_tick, length_ticks, temperature=1.0, *options):
        yield self._strike(start_tick)
        self.time.sleep(2 * BEAT)  # long enough for the note to sound
        raise RuntimeError("model exploded")

    def _strike(self, tick):
        from antiphon.engine.events import NoteEvent

        self.tick = tick
        return NoteEvent(tick, 70, 100)


def test_a_crashing_loop_releases_its_notes_and_reports(rig, virtual_time):
    r = rig(CrashingSession(virtual_time))
    r.play([60])
    assert r.wait_until(lambda: r.daemon.loop.error is not None, timeout=10)
    assert isinstance(r.daemon.failure(), RuntimeError)
    assert [0x92, 70, 100] in r.messages()  # channel 3
    assert r.wait_until(lambda: unmatched_note_ons(r.messages()) == {})


def test_malformed_messages_do_not_stop_the_daemon(rig):
    r = rig()
    for garbage in ([0x90, 200, 100], [0x90, 60, 255], [0x90, 60], [0xF0, 0x7E, 0xF7]):
        r.player.send(garbage)
    r.play([60, 64, 67])
    assert r.wait_until(lambda: len(r.session.generated) == 1, timeout=10)
    assert r.daemon.failure() is None
    assert [e.pitch for e in r.session.observed[:2]] == [60, 60]  # the garbage never arrived


def test_the_pitch_rules_and_sampling_reach_the_model(rig):
    r = rig(config=DaemonConfig(bpm=BPM, scale="A minor", highest_pitch=81, max_polyphony=2,
                                texture="chords", temperature=0.8, top_p=0.9))
    r.play([60, 64])
    assert r.wait_until(lambda: len(r.session.generated) == 1, timeout=10)
    (rules,) = r.session.rules
    assert rules.pitch_classes == {9, 11, 0, 2, 4, 5, 7}
    assert (rules.highest, rules.max_polyphony) == (81, 2)
    assert r.session.generated[0][2] == 0.8 and r.session.top_ps == [0.9]


def test_a_line_is_answered_in_one_voice_and_chords_with_the_calls_most(rig):
    r = rig(config=DaemonConfig(bpm=BPM, scale="C major"))  # texture auto, the default
    r.play([60, 62, 64, 65])
    assert r.wait_until(lambda: len(r.session.generated) == 1, timeout=10)
    assert r.session.rules[-1].max_polyphony == 1
    assert r.wait_until(lambda: r.daemon.loop.answer_finished.is_set(), timeout=10)
    for chord in ([60, 64, 67], [62, 65, 69]):  # two chords held a beat each
        for pitch in chord:
            r.player.send([0x90, pitch, 100])
        r.time.sleep(BEAT)
        for pitch in chord:
            r.player.send([0x80, pitch, 0])
    assert r.wait_until(lambda: len(r.session.generated) == 2, timeout=10)
    assert r.session.rules[-1].max_polyphony == 3


def test_scale_auto_holds_the_answer_to_the_calls_key_and_range(rig):
    # A long silence: a late wake-up between two notes of a loaded machine must not split
    # the call into phrases too short to name a key.
    r = rig(config=DaemonConfig(bpm=BPM, scale="auto", lowest_pitch=40, silence_beats=4.0))
    r.play([62, 66, 69, 62, 73, 74, 69, 66, 62])  # D major, with its C#: D4..D5
    assert r.wait_until(lambda: len(r.session.generated) == 1, timeout=10)
    (rules,) = r.session.rules
    # The key is that of the call as the daemon heard it: how long each note sounded
    # weighs in, and a loaded machine's late wake-ups change that (the key finding itself
    # is tested on fixed calls in tests/engine). As played, it is D major.
    key = find_key(r.session.observed)
    clear = key is not None and key.clear
    assert rules.pitch_classes == (key.pitch_classes() if clear else frozenset(range(12)))
    assert (rules.lowest, rules.highest) == (50, 86)  # an octave around the call
    r.play([60, 61, 62, 63, 64, 65, 66])  # chromatic: no key to keep to
    assert r.wait_until(lambda: len(r.session.generated) == 2, timeout=10)
    assert r.session.rules[1].pitch_classes == frozenset(range(12))
    assert (r.session.rules[1].lowest, r.session.rules[1].highest) == (48, 78)


def test_a_fixed_scale_is_not_narrowed_to_the_call(rig):
    r = rig(config=DaemonConfig(bpm=BPM, scale="chromatic"))
    r.play([62, 64, 66, 67, 69, 66, 64])
    assert r.wait_until(lambda: len(r.session.generated) == 1, timeout=10)
    (rules,) = r.session.rules
    assert rules.pitch_classes == frozenset(range(12)) and (rules.lowest, rules.highest) == (0, 127)


def test_a_phrase_played_into_the_pedal_ends_when_the_pedal_lifts(rig):
    r = rig(config=DaemonConfig(bpm=BPM, silence_beats=1.0, max_hold_beats=16))
    r.player.send([0xB0, 64, 127])  # pedal down
    r.play([60, 64, 67])
    r.time.sleep(3 * BEAT)  # keys up for longer than the silence: the pedal still holds them
    assert r.session.generated == []
    lifted = r.time.now()
    r.player.send([0xB0, 64, 0])
    assert r.wait_until(lambda: len(r.session.generated) == 1, timeout=10)
    answered = r.time.now()
    assert answered - lifted >= 1.0 * BEAT - 0.05  # the silence counts from the lift
    releases = [e for e in r.session.observed if e.velocity == 0]
    assert len(releases) == 3 and len({e.tick for e in releases}) == 1  # all at the lift


def test_the_pedal_cannot_hold_a_phrase_open_for_ever(rig):
    r = rig(config=DaemonConfig(bpm=BPM, silence_beats=1.0, max_hold_beats=4))
    r.player.send([0xB0, 64, 127])
    r.play([60, 62])
    assert r.wait_until(lambda: len(r.session.generated) == 1, timeout=4 * BEAT + 3)


def test_phrase_end_pedal_waits_for_the_pedal_not_for_silence(rig):
    r = rig(config=DaemonConfig(bpm=BPM, phrase_end="pedal", max_hold_beats=16))
    r.play([60, 64, 67])  # no pedal: keys up, silence... and still no answer
    r.time.sleep(3 * BEAT)
    assert r.session.generated == []
    r.player.send([0xB0, 64, 127])
    r.player.send([0xB0, 64, 0])  # the pedal lifted: the call is over
    assert r.wait_until(lambda: len(r.session.generated) == 1, timeout=5)


def test_phrase_end_control_ends_the_call_when_asked(rig):
    r = rig(config=DaemonConfig(bpm=BPM, phrase_end="control", end_cc=118, max_hold_beats=16))
    r.play([60, 64, 67])
    r.time.sleep(3 * BEAT)
    assert r.session.generated == []
    r.daemon.loop.end_phrase()  # what the knobs thread does for the end-of-call knob
    assert r.wait_until(lambda: len(r.session.generated) == 1, timeout=5)


def test_phrase_end_bars_ends_the_call_at_its_bar_line(rig):
    r = rig(config=DaemonConfig(bpm=BPM, phrase_end="bars", phrase_bars=1, grid_beats=1))
    began = r.time.now()
    r.player.send([0x90, 60, 100])  # one note held on: silence never comes
    assert r.wait_until(lambda: len(r.session.generated) == 1, timeout=4 * BEAT + 3)
    ended = r.time.now() - began
    assert 4 * BEAT - 0.1 <= ended <= 4 * BEAT + 0.5  # one bar of 4 beats from its start
    r.player.send([0x80, 60, 0])
