"""InputGate: the channels the daemon listens to, and a flood shed rather than queued."""

from __future__ import annotations

import logging
import queue
import threading
import time

import pytest

from antiphon.daemon.midi import input_gate
from antiphon.daemon.midi.echo_guard import EchoGuard
from antiphon.daemon.midi.input_gate import (
    NOTE_ON_BURST,
    NOTE_ONS_PER_SECOND,
    QUEUE_LIMIT,
    GateSettings,
    InputGate,
    parse_channels,
)
from antiphon.daemon.midi.wire import is_note_on, panic_messages
from antiphon.daemon.play.timing_trace import TimingTrace

LOGGER = "antiphon.daemon.midi.input_gate"
DEFAULT_CHANNELS = parse_channels("1-9,11-16")  # every channel but the drums
ALL_CHANNELS = parse_channels("all")


class FakeClock:
    """Stands in for the gate module's `time`: the token bucket and the log pace read it."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def perf_counter(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(input_gate, "time", fake)
    return fake


def on(channel: int, pitch: int, velocity: int = 100) -> list[int]:
    """A note-on on a 1-based channel."""
    return [0x90 | (channel - 1), pitch, velocity]


def off(channel: int, pitch: int) -> list[int]:
    return [0x80 | (channel - 1), pitch, 0]


def drain(inbox: queue.SimpleQueue) -> list[tuple[float, list[int]]]:
    items = []
    while True:
        try:
            items.append(inbox.get_nowait())
        except queue.Empty:
            return items


def key(message) -> tuple[int, int]:
    return message[0] & 0x0F, message[1]


def assert_each_note_on_has_one_release_after_it(messages) -> None:
    """Every note-on is followed by exactly one note-off of its key before the key sounds
    again, and no note-off comes without a note-on before it."""
    held: set[tuple[int, int]] = set()
    for message in messages:
        if is_note_on(message):
            assert key(message) not in held, f"{message}: the key is still held"
            held.add(key(message))
        else:
            assert key(message) in held, f"{message}: a release of a key not held"
            held.discard(key(message))
    assert not held, f"note-ons with no release: {sorted(held)}"


# -- channels and kinds ----------------------------------------------------------------


def test_a_held_drum_note_never_reaches_the_inbox():
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, DEFAULT_CHANNELS)
    gate(1.0, on(10, 36))  # a drum machine's note-on, never released
    assert inbox.empty()
    assert gate.stats.other_channels == 1 and gate.stats.kept == 0
    gate(1.1, off(10, 36))
    assert inbox.empty()
    assert gate.stats.other_channels == 2 and gate.stats.received == 2


def test_the_default_channels_are_all_but_ten():
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, DEFAULT_CHANNELS)
    for channel in range(1, 17):
        gate(float(channel), on(channel, 60))
    kept = [message for _, message in drain(inbox)]
    assert kept == [on(channel, 60) for channel in range(1, 17) if channel != 10]
    assert gate.stats.other_channels == 1 and gate.stats.kept == 15


def test_only_the_listened_channels_pass():
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, {3, 16})
    for channel in range(1, 17):
        gate(0.0, on(channel, 60))
        gate(0.0, off(channel, 60))
    kept = [message for _, message in drain(inbox)]
    assert kept == [on(3, 60), off(3, 60), on(16, 60), off(16, 60)]
    assert gate.stats.other_channels == 28


def test_kinds_the_loop_does_not_use_are_dropped_and_counted():
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, ALL_CHANNELS)
    unused = [
        [0xB0, 1, 127],  # modulation wheel
        [0xB0, 64, 0],  # a sustain pedal that was never down: nothing changes
        [0xC0, 5],  # program change
        [0xD0, 40],  # channel pressure
        [0xA0, 60, 30],  # poly pressure
        [0xE0, 0, 64],  # pitch bend
        [0xB9, 7, 100],  # on the drum channel: still "unused", not "other channel"
        [0xF8],  # clock
        [0xFA],  # start
        [0xF2, 0, 0],  # song position
        [0x90, 60],  # not a whole note
    ]
    for message in unused:
        gate(0.0, message)
    assert inbox.empty()
    assert gate.stats.unused == len(unused)
    assert gate.stats.other_channels == 0 and gate.stats.kept == 0 and gate.stats.shed == 0


def test_every_message_the_input_delivered_counts_as_received_whoever_takes_it():
    """Knobs, clock pulses and our own echoes are taken before the notes' rules; the
    status's "received" counts them all the same."""
    inbox = queue.SimpleQueue()
    knobs, pulses, guard = [], [], EchoGuard()
    gate = InputGate(inbox, ALL_CHANNELS, controls=knobs.append, control_ccs={(0, 21)},
                     program_channels={0}, echo_guard=guard,
                     clock_sink=lambda arrived, message: pulses.append(message))
    guard.sent([0x90, 72, 90], 10.0)
    messages = [[0xB0, 21, 64], [0xC0, 3], [0xF8], [0xFA], on(1, 60), off(1, 60),
                [0x90, 72, 90]]
    for message in messages:
        gate(10.001, message)
    assert len(knobs) == 2 and len(pulses) == 2
    assert gate.stats.echoes == 1 and gate.stats.kept == 2
    assert gate.stats.received == len(messages)


def test_only_the_sustain_pedals_moves_pass():
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, DEFAULT_CHANNELS)
    # A continuous pedal pressed and let go: many values, two moves.
    for value in (0, 20, 70, 90, 127, 127, 100, 64, 63, 10, 0):
        gate(0.0, [0xB0, 64, value])
    gate(0.0, [0xB9, 64, 127])  # the drum channel is not listened to
    passed = []
    while not inbox.empty():
        passed.append(inbox.get_nowait()[1])
    assert passed == [[0xB0, 64, 70], [0xB0, 64, 63]]
    assert gate.stats.kept == 2 and gate.stats.other_channels == 1


def test_a_kept_message_reaches_the_inbox_with_its_arrival_time():
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, ALL_CHANNELS)
    message = on(1, 60)
    gate(12.5, message)
    gate(13.0, [0x90, 60, 0])  # velocity 0: a release
    assert drain(inbox) == [(12.5, message), (13.0, [0x90, 60, 0])]
    assert gate.stats.kept == 2 and gate.stats.received == 2


def test_the_trace_records_every_message_and_whether_it_was_kept():
    inbox = queue.SimpleQueue()
    trace = TimingTrace()
    gate = InputGate(inbox, DEFAULT_CHANNELS, trace)
    gate(1.0, on(1, 60))
    gate(2.0, on(10, 36))
    gate(3.0, [0xF8])
    gate(4.0, off(1, 60))
    assert trace.receives == [
        (1.0, (0x90, 60, 100), True),
        (2.0, (0x99, 36, 100), False),
        (3.0, (0xF8,), False),
        (4.0, (0x80, 60, 0), True),
    ]


def test_the_trace_records_shed_messages_as_not_kept(clock):
    inbox = queue.SimpleQueue()
    trace = TimingTrace()
    gate = InputGate(inbox, ALL_CHANNELS, trace)
    for n in range(NOTE_ON_BURST + 5):
        gate(float(n), on(1 + n % 16, n % 128))
    assert len(trace.receives) == NOTE_ON_BURST + 5
    assert [kept for _, _, kept in trace.receives] == [True] * NOTE_ON_BURST + [False] * 5
    assert all(type(message) is tuple for _, message, _ in trace.receives)


# -- a flood ---------------------------------------------------------------------------


def flood_pair(n: int) -> tuple[list[int], list[int]]:
    channel = 1 + n % 9  # listened channels 1..9
    pitch = (n // 9) % 128
    return on(channel, pitch), off(channel, pitch)


def test_a_flood_is_shed_to_the_rate_and_never_overfills_the_inbox(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    started = time.perf_counter()  # before the gate: its bucket refills from its start
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, DEFAULT_CHANNELS)
    largest = 0
    for n in range(10_000):
        note_on, note_off = flood_pair(n)
        gate(0.0, note_on)
        largest = max(largest, inbox.qsize())
        gate(0.0, note_off)
        largest = max(largest, inbox.qsize())
    elapsed = time.perf_counter() - started
    messages = [message for _, message in drain(inbox)]
    note_ons = sum(is_note_on(message) for message in messages)
    assert NOTE_ON_BURST <= note_ons <= NOTE_ON_BURST + NOTE_ONS_PER_SECOND * elapsed + 1
    assert largest <= QUEUE_LIMIT
    assert len(messages) == 2 * note_ons
    assert_each_note_on_has_one_release_after_it(messages)
    stats = gate.stats
    assert stats.received == 20_000 and stats.kept == len(messages)
    assert stats.shed == 20_000 - len(messages)
    warnings = [r for r in caplog.records if r.name == LOGGER]
    assert 1 <= len(warnings) <= 1 + int(elapsed / input_gate.SHED_LOG_SECONDS)
    assert all(r.levelno == logging.WARNING for r in warnings)


def test_a_flood_at_one_instant_keeps_exactly_the_burst(clock):
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, DEFAULT_CHANNELS)
    for n in range(10_000):
        for message in flood_pair(n):
            gate(clock.now, message)
    messages = [message for _, message in drain(inbox)]
    assert messages == [message for n in range(NOTE_ON_BURST) for message in flood_pair(n)]
    assert gate.stats.shed == 2 * (10_000 - NOTE_ON_BURST)


def test_the_shed_note_ons_release_is_shed_even_when_it_comes_much_later(clock):
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, ALL_CHANNELS)
    for n in range(NOTE_ON_BURST):
        gate(clock.now, on(1, n))
    gate(clock.now, on(2, 60))  # shed: no token left
    clock.advance(10.0)  # the bucket is full again...
    gate(clock.now, off(2, 60))  # ...but this is the release of a note the loop never heard
    messages = [message for _, message in drain(inbox)]
    assert off(2, 60) not in messages
    assert gate.stats.shed == 2


def test_a_shed_key_played_again_later_is_heard_with_its_release(clock):
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, ALL_CHANNELS)
    for n in range(NOTE_ON_BURST):
        gate(clock.now, on(1, n))
        gate(clock.now, off(1, n))
    gate(clock.now, on(2, 60))  # shed
    gate(clock.now, off(2, 60))  # shed with it
    clock.advance(1.0)
    gate(clock.now, on(2, 60))
    gate(clock.now, off(2, 60))
    messages = [message for _, message in drain(inbox)]
    assert messages[-2:] == [on(2, 60), off(2, 60)]
    assert_each_note_on_has_one_release_after_it(messages)


def test_normal_playing_passes_again_after_a_flood(clock):
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, DEFAULT_CHANNELS)
    for n in range(10_000):
        for message in flood_pair(n):
            gate(clock.now, message)
    drain(inbox)
    gate(clock.now, on(1, 30))
    assert inbox.empty()  # still no token
    gate(clock.now, off(1, 30))
    clock.advance(NOTE_ON_BURST / NOTE_ONS_PER_SECOND)  # the bucket is full again
    chord = [on(2, pitch) for pitch in range(60, 70)]
    for message in chord:
        gate(clock.now, message)
    for pitch in range(60, 70):
        gate(clock.now + 0.5, off(2, pitch))
    messages = [message for _, message in drain(inbox)]
    assert messages == chord + [off(2, pitch) for pitch in range(60, 70)]


def test_normal_playing_passes_again_after_a_flood_in_real_time():
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, DEFAULT_CHANNELS)
    for n in range(10_000):
        for message in flood_pair(n):
            gate(0.0, message)
    drain(inbox)
    time.sleep(NOTE_ON_BURST / NOTE_ONS_PER_SECOND + 0.1)
    chord = [on(3, pitch) for pitch in range(48, 58)]
    for message in chord:
        gate(0.0, message)
    assert [message for _, message in drain(inbox)] == chord


def test_a_human_phrase_passes_whole(clock):
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, DEFAULT_CHANNELS)
    sent = []
    for n in range(20):  # 20 notes at 10 a second, each held 80 ms
        for message, delay in ((on(1, 60 + n), 0.0), (off(1, 60 + n), 0.08)):
            clock.advance(delay)
            gate(clock.now, message)
            sent.append(message)
        clock.advance(0.02)
    assert [message for _, message in drain(inbox)] == sent
    assert gate.stats.shed == 0


def test_a_ten_note_chord_at_once_passes_whole(clock):
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, DEFAULT_CHANNELS)
    chord = [on(1, pitch) for pitch in (36, 43, 48, 52, 55, 60, 64, 67, 72, 76)]
    for message in chord:
        gate(clock.now, message)
    assert [message for _, message in drain(inbox)] == chord


def test_playing_at_the_rate_limit_sheds_nothing(clock):
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, ALL_CHANNELS)
    for n in range(3 * int(NOTE_ONS_PER_SECOND)):  # three seconds at the limit
        clock.advance(1.0 / NOTE_ONS_PER_SECOND)
        gate(clock.now, on(1 + n % 16, n % 128))
        gate(clock.now, off(1 + n % 16, n % 128))
        drain(inbox)
    assert gate.stats.shed == 0


def test_above_the_rate_the_burst_then_the_rate_pass(clock):
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, ALL_CHANNELS)
    count, rate = 4000, 2 * NOTE_ONS_PER_SECOND
    for n in range(count):
        gate(clock.now, on(1 + n % 16, n % 128))
        gate(clock.now, off(1 + n % 16, n % 128))
        drain(inbox)
        clock.advance(1.0 / rate)
    expected = NOTE_ON_BURST + NOTE_ONS_PER_SECOND * (count - 1) / rate
    kept_note_ons = gate.stats.kept / 2
    assert abs(kept_note_ons - expected) <= 2


def test_the_inbox_limit_sheds_note_ons_and_their_releases(monkeypatch, clock):
    monkeypatch.setattr(input_gate, "NOTE_ON_BURST", 1_000_000)  # only the queue limits
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, ALL_CHANNELS)
    for _ in range(QUEUE_LIMIT):
        inbox.put_nowait((0.0, [0xF8]))  # the loop is stuck: its inbox is full
    gate(clock.now, on(1, 60))
    gate(clock.now, off(1, 60))
    assert inbox.qsize() == QUEUE_LIMIT
    assert gate.stats.shed == 2
    drain(inbox)  # the loop catches up
    gate(clock.now, on(1, 61))
    gate(clock.now, off(1, 61))
    assert [message for _, message in drain(inbox)] == [on(1, 61), off(1, 61)]


def test_an_undrained_inbox_fills_to_the_limit_and_no_further(monkeypatch, clock):
    monkeypatch.setattr(input_gate, "NOTE_ON_BURST", 1_000_000)
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, ALL_CHANNELS)
    largest = 0
    for n in range(5000):  # note-on / note-off pairs
        for message in flood_pair(n):
            gate(clock.now, message)
            largest = max(largest, inbox.qsize())
    assert largest == QUEUE_LIMIT
    assert_each_note_on_has_one_release_after_it([message for _, message in drain(inbox)])


def test_a_flood_of_releases_does_not_overfill_the_inbox(clock):
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, DEFAULT_CHANNELS)
    largest = 0
    for channel in range(16):
        for message in panic_messages(channel):  # 128 note-offs, then two CCs
            gate(clock.now, list(message))
            largest = max(largest, inbox.qsize())
    for n in range(5000):
        gate(clock.now, [0x90, n % 128, 0])  # running-status senders' releases
        largest = max(largest, inbox.qsize())
    assert largest <= QUEUE_LIMIT


def test_the_release_of_a_kept_note_on_never_overfills_the_inbox(monkeypatch, clock):
    monkeypatch.setattr(input_gate, "NOTE_ON_BURST", 1_000_000)
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, ALL_CHANNELS)
    gate(clock.now, on(16, 30))  # held (a pedal tone) while the loop is stuck
    largest = 0
    for n in range(1000):
        for message in flood_pair(n):
            gate(clock.now, message)
            largest = max(largest, inbox.qsize())
    gate(clock.now, off(16, 30))
    largest = max(largest, inbox.qsize())
    messages = [message for _, message in drain(inbox)]
    assert_each_note_on_has_one_release_after_it(messages)  # the promise holds...
    assert largest <= QUEUE_LIMIT  # ...but so must the limit


def test_a_kept_note_on_keeps_its_release_when_a_retrigger_is_shed(clock):
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, ALL_CHANNELS)
    gate(clock.now, on(1, 60))  # kept: the loop holds key 60
    for n in range(NOTE_ON_BURST - 1):
        gate(clock.now, on(2, n))  # spend the bucket
        gate(clock.now, off(2, n))
    gate(clock.now, on(1, 60))  # a retrigger of the held key: shed
    gate(clock.now, off(1, 60))  # the one release of key 60
    messages = [message for _, message in drain(inbox)]
    assert messages[0] == on(1, 60)
    assert off(1, 60) in messages  # the loop still holds key 60 otherwise


# -- the shedding log ------------------------------------------------------------------


def test_shedding_is_logged_at_most_once_a_second(clock, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, ALL_CHANNELS)

    def flood(count: int) -> None:
        for n in range(count):
            gate(clock.now, on(1 + n % 16, n % 128))
            gate(clock.now, off(1 + n % 16, n % 128))

    def warnings() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == LOGGER]

    flood(NOTE_ON_BURST)
    assert warnings() == []  # nothing shed yet
    flood(1000)
    assert len(warnings()) == 1
    assert "shed 1 messages" in warnings()[0].getMessage()  # the first shed, at once
    clock.advance(0.5)  # refills 150 tokens
    flood(1000)
    clock.advance(0.4)
    flood(1000)
    assert len(warnings()) == 1
    clock.advance(0.1)  # a second after the first warning
    gate(clock.now, on(5, 5))  # shed: the bucket is still empty
    assert len(warnings()) == 2
    shed_so_far = gate.stats.shed
    assert f"({shed_so_far} in all)" in warnings()[1].getMessage()
    assert f"shed {shed_so_far - 1} messages" in warnings()[1].getMessage()
    gate(clock.now, off(5, 5))  # shed with its note-on, logged with the next warning
    assert len(warnings()) == 2 and gate.stats.shed == shed_so_far + 1
    assert all(r.levelno == logging.WARNING for r in warnings())


def test_no_log_without_shedding(clock, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, DEFAULT_CHANNELS)
    for n in range(50):
        gate(clock.now, on(10, 36))  # other channel: dropped, not shed
        gate(clock.now, [0xF8])  # unused: dropped, not shed
        gate(clock.now, on(1, n))
    assert [r for r in caplog.records if r.name == LOGGER] == []
    assert gate.stats.shed == 0


# -- two readers at once ---------------------------------------------------------------


def test_two_readers_at_once_keep_the_counts_and_the_pairs():
    inbox = queue.SimpleQueue()
    gate = InputGate(inbox, ALL_CHANNELS)
    per_thread = 5000

    def reader(channel: int) -> None:
        for n in range(per_thread):
            gate(0.0, on(channel, n % 128))
            gate(0.0, off(channel, n % 128))

    threads = [threading.Thread(target=reader, args=(channel,)) for channel in (1, 2, 3, 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = gate.stats
    assert stats.received == 4 * 2 * per_thread
    assert stats.kept + stats.shed == stats.received
    messages = [message for _, message in drain(inbox)]
    assert len(messages) == stats.kept
    for channel in (1, 2, 3, 4):
        assert_each_note_on_has_one_release_after_it(
            [message for message in messages if message[0] & 0x0F == channel - 1])


# -- the player's keys always get their releases ------------------------------------------


def gate_with_thru(channels=ALL_CHANNELS):
    inbox, thru = queue.SimpleQueue(), []
    gate = InputGate(inbox, channels, thru=thru.append)
    return gate, inbox, thru


def gate_with_guarded_thru(now: list[float]):
    """A gate whose MIDI thru tells an echo guard each send (as the scheduler does), at the
    time in `now`: (gate, inbox, what thru sent)."""
    inbox, sent, guard = queue.SimpleQueue(), [], EchoGuard()
    gate = InputGate(inbox, ALL_CHANNELS, echo_guard=guard,
                     thru=lambda message: (sent.append(message), guard.sent(message, now[0])))
    return gate, inbox, sent


def test_a_quick_repeat_with_thru_is_not_taken_for_thrus_own_echo():
    """72 on, off, on, off 15 ms apart with MIDI thru: the second release is the same to the
    byte as thru's first, sent a moment ago, and the echo guard must not drop it."""
    gate, inbox, thru = gate_with_guarded_thru([10.0])
    for index, message in enumerate([[0x90, 72, 100], [0x80, 72, 0], [0x90, 72, 90],
                                     [0x80, 72, 0]]):
        gate(10.0 + 0.015 * index, message)
    assert thru == [[0x90, 72, 100], [0x80, 72, 0], [0x90, 72, 90], [0x80, 72, 0]]
    assert_each_note_on_has_one_release_after_it([m for _, m in drain(inbox)])
    assert gate.stats.echoes == 0


def test_a_real_loop_of_thru_is_still_caught():
    now = [10.0]
    gate, inbox, sent = gate_with_guarded_thru(now)
    for now[0], message in ((10.0, [0x90, 60, 100]),
                            (10.002, [0x90, 60, 100]),  # thru's, come back round the loop
                            (10.1, [0x80, 60, 0]),
                            (10.102, [0x80, 60, 0])):  # thru's release, come back
        gate(now[0], message)
    assert sent == [[0x90, 60, 100], [0x80, 60, 0]] and gate.stats.echoes == 2


@pytest.mark.parametrize("ender", [[0xB0, 123, 0], [0xB0, 120, 0], [0xB0, 121, 0],
                                   [0xB0, 127, 0], [0xFF]],
                         ids=["all notes off", "all sound off", "reset controllers",
                              "poly mode", "system reset"])
def test_all_notes_off_from_the_keyboard_releases_its_held_keys_and_pedal(ender):
    gate, inbox, thru = gate_with_thru()
    for message in ([0xB0, 64, 127], [0x90, 48, 90], [0x90, 52, 90], [0x91, 55, 90]):
        gate(0.0, message)
    drain(inbox)
    gate(0.1, ender)
    released = [m for _, m in drain(inbox)]
    assert [0x80, 48, 0] in released and [0x80, 52, 0] in released
    assert ([0x81, 55, 0] in released) == (ender == [0xFF])  # one channel, or every one
    assert ([0xB0, 64, 0] in released) == (ender[1:2] != [123])  # notes only: pedal stays
    told = [ender] if ender[0] < 0xF0 else []  # the synth resets its own controllers too
    assert thru[-len(released) - len(told):] == released + told  # and releases what it sounded
    gate(0.2, [0x80, 48, 0])  # the key's own release, late: nothing more to release
    assert inbox.empty()


def test_lost_releases_never_make_the_gate_deaf(clock):
    """Hundreds of note-ons whose note-offs never came (a cable pulled mid-chord, a buggy
    sequencer): the gate lets the longest held go rather than shed every new note."""
    gate, inbox, _ = gate_with_thru()
    for index in range(622):
        clock.advance(0.004)  # 250 a second: under the flood rate
        gate(clock.now, [0x90 | (index % 16), index % 128, 90])
        drain(inbox)
    gate(10.0, [0x90, 60, 100])
    assert [m for _, m in drain(inbox)][-1] == [0x90, 60, 100]
    assert gate.stats.shed == 0


def test_a_key_struck_again_unreleased_is_released_first():
    gate, inbox, thru = gate_with_thru()
    for message in ([0x90, 50, 100], [0x90, 50, 80], [0x80, 50, 0], [0x80, 50, 0]):
        gate(0.0, message)
    assert thru == [[0x90, 50, 100], [0x80, 50, 0], [0x90, 50, 80], [0x80, 50, 0]]
    assert_each_note_on_has_one_release_after_it([m for _, m in drain(inbox)])


def test_a_held_key_is_released_even_when_its_channel_is_no_longer_listened_to():
    gate, inbox, thru = gate_with_thru()
    gate(0.0, [0x90, 45, 100])
    gate(0.0, [0xB0, 64, 127])
    gate.retune(GateSettings(frozenset(range(2, 17)), thru.append))  # `set listen_channels 2-16`
    gate(0.1, [0x80, 45, 0])
    gate(0.1, [0xB0, 64, 0])
    assert thru == [[0x90, 45, 100], [0xB0, 64, 127], [0x80, 45, 0], [0xB0, 64, 0]]
    gate(0.2, [0x90, 45, 100])  # a new strike there is not listened to
    assert thru[-1] == [0xB0, 64, 0]
