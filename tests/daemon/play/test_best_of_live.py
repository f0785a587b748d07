"""Best of N, live: the interaction loop with the shipped default model, its real scheduler
and clock over loopback ports. All N answers are drawn and scored in the gap before the
answer is due, so the answer still starts on the grid, one beat after the call, and a
barge-in still cuts it (engine/candidates.py, daemon/play/answering.py)."""

import pytest
from daemon_helpers import unmatched_note_ons, wait_until

from antiphon.daemon.config.daemon_config import DaemonConfig
from antiphon.daemon.midi.loopback import MessageRecorder, loopback_pair
from antiphon.daemon.play.clock import Clock
from antiphon.daemon.service.daemon import Daemon
from antiphon.engine.session import open_session
from antiphon.exported_models import default_model_path

BPM = 120.0
BEAT = 60.0 / BPM
MELODY = [60, 64, 67, 72, 71, 67, 69, 65]  # played one every half beat: two bars of 2/4


@pytest.fixture
def live():
    made = []

    def start(candidates: int, answer_beats: float = 8.0):
        player, daemon_in = loopback_pair("Antiphon In")
        daemon_out, recorder_in = loopback_pair("Antiphon Out")
        recorder = MessageRecorder()
        recorder_in.set_receiver(recorder)
        config = DaemonConfig(bpm=BPM, silence_beats=1.0, min_answer_beats=answer_beats,
                              max_answer_beats=answer_beats, grid_beats=1.0, scale="auto",
                              candidates=candidates, seed=4)
        clock = Clock(BPM)
        session = open_session(default_model_path(), device="cpu", seed=4)
        daemon = Daemon(config, session, daemon_in, daemon_out, clock)
        daemon.start()
        made.append(daemon)
        return player, recorder, daemon, clock

    yield start
    for daemon in made:
        daemon.stop()


def sent(recorder) -> list[list[int]]:
    return [message for _, message in recorder.messages()]


def play(player, pitches, beats_each=0.5):
    import time

    began = time.perf_counter()
    for index, pitch in enumerate(pitches):
        due = began + index * beats_each * BEAT
        time.sleep(max(0.0, due - time.perf_counter()))
        player.send([0x90, pitch, 90])
        time.sleep(beats_each * BEAT * 0.8)
        player.send([0x80, pitch, 0])
    return began


def test_best_of_eight_starts_on_the_grid_one_beat_after_the_call(live):
    player, recorder, daemon, clock = live(candidates=8)
    began = play(player, MELODY)
    loop = daemon.loop
    assert wait_until(lambda: loop.stats.answers_finished == 1, timeout=15)
    notes = [(t, m) for t, m in recorder.messages() if m[0] & 0xF0 == 0x90 and m[2]]
    assert notes, "no answer"
    assert loop.stats.late_answers == 0  # all 8 drawn and scored before the first was due
    # The call ends at beat 4 (8 quavers); the silence of one beat ends the phrase, and the
    # answer's first note is on the beat grid counted from the call.
    first_beat = clock.beats_at(notes[0][0]) - clock.beats_at(began)
    assert first_beat == pytest.approx(round(first_beat), abs=0.15)
    assert 4.5 <= first_beat <= 6.2 + loop.stats.late_beats
    pitches = [m[1] for _, m in notes]
    assert all(48 <= pitch <= 84 for pitch in pitches)  # the call's register
    assert unmatched_note_ons(sent(recorder)) == {}


def test_a_barge_in_cuts_the_chosen_answer_and_releases_it(live):
    player, recorder, daemon, _ = live(candidates=8, answer_beats=16.0)
    play(player, MELODY[:4])
    loop = daemon.loop
    assert wait_until(lambda: sum(1 for _, m in recorder.messages()
                                  if m[0] & 0xF0 == 0x90 and m[2]) >= 2, timeout=15)
    player.send([0x90, 74, 90])  # the player comes back in
    assert wait_until(lambda: loop.stats.barge_ins == 1, timeout=5)
    player.send([0x80, 74, 0])
    assert wait_until(lambda: unmatched_note_ons(sent(recorder)) == {}, timeout=5)
