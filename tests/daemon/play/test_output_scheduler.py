"""The output scheduler: order, releases, thru; in virtual time (virtual_play.py), but for
the one test of how close to its due time a message really leaves."""

import logging
import statistics
from contextlib import contextmanager

from daemon_helpers import recording_output, unmatched_note_ons, wait_until
from hypothesis import given, settings
from hypothesis import strategies as st
from virtual_play import VirtualOutput, VirtualTime

from antiphon.daemon.midi.loopback import MessageRecorder
from antiphon.daemon.play.clock import Clock
from antiphon.daemon.play.scheduler import OutputScheduler

log = logging.getLogger(__name__)

NOTE_ON, NOTE_OFF = 0x90, 0x80


@contextmanager
def running_scheduler(time: VirtualTime | None, bpm: float = 120.0):
    """A started scheduler (in `time`; None: in real time), stopped however the test ends."""
    if time is None:
        output, recorder = recording_output()
        clock = Clock(bpm)
    else:
        recorder = MessageRecorder()
        output, clock = VirtualOutput(time, recorder), Clock(bpm, time_source=time)
    scheduler = OutputScheduler(output, clock)
    scheduler.start()
    try:
        yield scheduler, clock, recorder
    finally:
        scheduler.stop()


def test_messages_leave_in_order_and_on_time():
    """In real time: the spin's precision is what is measured."""
    with running_scheduler(None) as (scheduler, clock, recorder):
        start = clock.now_beats() + 0.1
        due_beats = [start + 0.05 * k for k in range(20)]
        for k, due in reversed(list(enumerate(due_beats))):  # heap order, not call order
            scheduler.schedule(due, [NOTE_ON, 60 + k, 100])
        assert wait_until(lambda: len(recorder.messages()) == 20)
        messages = recorder.messages()
    # (the stop released the 20 notes: not part of the timing)
    assert [message[1] for _, message in messages] == list(range(60, 80))
    sent_at = [arrived for arrived, _ in messages]
    errors = [t - clock.seconds_at(due) for t, due in zip(sent_at, due_beats, strict=True)]
    median = statistics.median(errors)
    log.info("scheduler timing error: median %.3f ms, max %.3f ms",
             median * 1e3, max(errors) * 1e3)
    # Loose bounds: the target is ~1 ms, but a loaded CI machine must not fail this.
    assert min(errors) > -0.0005, "a message left before its due time"
    assert median < 0.010
    assert max(errors) < 0.100


def test_same_due_time_keeps_the_order_of_scheduling(virtual_time):
    with running_scheduler(virtual_time) as (scheduler, clock, recorder):
        due = clock.now_beats() + 0.05
        scheduler.schedule(due, [NOTE_ON, 60, 100])
        scheduler.schedule(due + 0.1, [NOTE_OFF, 60, 0])
        scheduler.schedule(due + 0.1, [NOTE_ON, 62, 100])
        scheduler.schedule(due + 0.1, [NOTE_OFF, 62, 0])
        assert virtual_time.wait_until(lambda: len(recorder.messages()) == 4)
    assert [m for _, m in recorder.messages()] == [
        [NOTE_ON, 60, 100], [NOTE_OFF, 60, 0], [NOTE_ON, 62, 100], [NOTE_OFF, 62, 0]]


def test_stop_releases_every_sounding_note_and_drops_the_rest(virtual_time):
    with running_scheduler(virtual_time) as (scheduler, clock, recorder):
        now = clock.now_beats()
        scheduler.schedule(now, [NOTE_ON, 60, 100])
        scheduler.schedule(now, [NOTE_ON | 3, 64, 90])  # channel 4
        scheduler.schedule(now + 100, [NOTE_OFF, 60, 0])
        scheduler.schedule(now + 100, [NOTE_ON, 67, 100])
        assert virtual_time.wait_until(lambda: scheduler.sounding() == [(0, 60), (3, 64)])
        released = scheduler.stop()
    assert released == 2
    assert scheduler.sounding() == []
    assert scheduler.pending() == 0
    messages = [m for _, m in recorder.messages()]
    assert unmatched_note_ons(messages) == {}
    assert [NOTE_ON, 67, 100] not in messages


def test_cancel_and_release_is_a_barge_in(virtual_time):
    with running_scheduler(virtual_time) as (scheduler, clock, recorder):
        now = clock.now_beats()
        scheduler.schedule(now, [NOTE_ON, 72, 100])
        scheduler.schedule(now + 2, [NOTE_OFF, 72, 0])
        scheduler.schedule(now + 2, [NOTE_ON, 74, 100])
        assert virtual_time.wait_until(lambda: scheduler.sounding() == [(0, 72)])
        assert scheduler.cancel_and_release() == 1
        assert scheduler.pending() == 0
        # The scheduler goes on working after a barge-in.
        scheduler.schedule(clock.now_beats(), [NOTE_ON, 76, 100])
        assert virtual_time.wait_until(lambda: scheduler.sounding() == [(0, 76)])
    messages = [m for _, m in recorder.messages()]
    assert messages == [[NOTE_ON, 72, 100], [NOTE_OFF, 72, 0], [NOTE_ON, 76, 100],
                        [NOTE_OFF, 76, 0]]


def test_restruck_note_is_released_first_and_tracked_once(virtual_time):
    with running_scheduler(virtual_time) as (scheduler, clock, recorder):
        now = clock.now_beats()
        scheduler.schedule(now, [NOTE_ON, 60, 100])
        scheduler.schedule(now, [NOTE_ON, 60, 80])  # struck again while it sounds
        scheduler.schedule(now, [NOTE_OFF, 60, 0])
        scheduler.schedule(now, [NOTE_ON, 62, 0])  # note-on with velocity 0 is a release...
        scheduler.schedule(now, [NOTE_OFF, 60, 0])  # ...and this one has nothing to release
        assert virtual_time.wait_until(lambda: scheduler.pending() == 0)
        virtual_time.sleep(0.01)
    messages = [m for _, m in recorder.messages()]
    assert messages == [[NOTE_ON, 60, 100], [NOTE_OFF, 60, 0], [NOTE_ON, 60, 80],
                        [NOTE_OFF, 60, 0]]
    assert scheduler.stats.restruck == 1
    assert scheduler.stats.dropped_note_offs == 2


def test_release_all_marker_ends_an_answer(virtual_time):
    with running_scheduler(virtual_time) as (scheduler, clock, recorder):
        now = clock.now_beats()
        scheduler.schedule(now, [NOTE_ON, 60, 100])
        scheduler.schedule(now, [NOTE_ON, 64, 100])
        scheduler.schedule_release_all(now + 0.1)
        assert virtual_time.wait_until(lambda: len(recorder.messages()) == 4)
        assert scheduler.sounding() == []
    arrived = [t for t, _ in recorder.messages()]
    assert arrived[2] - arrived[0] >= 0.05 - 0.001  # 0.1 beat at 120 BPM, not at once


def test_panic_sends_all_notes_off_on_the_channels_used(virtual_time):
    with running_scheduler(virtual_time) as (scheduler, clock, recorder):
        scheduler.schedule(clock.now_beats(), [NOTE_ON | 2, 60, 100])
        assert virtual_time.wait_until(lambda: scheduler.sounding() == [(2, 60)])
        assert scheduler.panic() == 1
    assert [m for _, m in recorder.messages()][-2:] == [[0x82, 60, 0], [0xB2, 123, 0]]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(60, 63), st.booleans()), max_size=30))
def test_output_stays_well_formed_whatever_is_scheduled(notes):
    time = VirtualTime()  # one per example (hypothesis runs examples in one test)
    with time.taking_part(), running_scheduler(time) as (scheduler, clock, recorder):
        now = clock.now_beats()
        for channel, pitch, strike in notes:
            status = (NOTE_ON if strike else NOTE_OFF) | channel
            scheduler.schedule(now, [status, pitch, 100 if strike else 0])
        assert time.wait_until(lambda: scheduler.pending() == 0)
    assert unmatched_note_ons(m for _, m in recorder.messages()) == {}


def test_the_player_and_the_answer_on_one_key_never_cut_each_other(virtual_time):
    """MIDI thru and the answer on the same channel and pitch: a struck key ends the
    answer's voice first (its later note-off is dropped), and an answer striking a key the
    player holds is not sent (its note-off would cut the player's note)."""
    with running_scheduler(virtual_time) as (scheduler, clock, recorder):
        now = clock.now_beats()
        scheduler.schedule(now, [NOTE_ON, 60, 90])  # the answer's 60
        scheduler.schedule(now + 0.4, [NOTE_OFF, 60, 0])
        assert virtual_time.wait_until(
            lambda: [NOTE_ON, 60, 90] in [m for _, m in recorder.messages()])
        scheduler.pass_through([NOTE_ON, 60, 100])  # the player strikes 60 too
        scheduler.pass_through([NOTE_ON, 64, 100])  # and holds 64
        scheduler.schedule(now + 0.2, [NOTE_ON, 64, 80])  # the answer would strike it
        scheduler.schedule(now + 0.3, [NOTE_OFF, 64, 0])
        virtual_time.sleep(clock.seconds_at(now + 0.5) - clock.now_seconds())
        messages = [m for _, m in recorder.messages()]
        assert messages == [[NOTE_ON, 60, 90], [NOTE_OFF, 60, 0], [NOTE_ON, 60, 100],
                            [NOTE_ON, 64, 100]]  # the player's 60 and 64 sound on
        scheduler.pass_through([NOTE_OFF, 60, 0])
        scheduler.pass_through([NOTE_OFF, 64, 0])
    assert unmatched_note_ons([m for _, m in recorder.messages()]) == {}
