"""Between an input port and the interaction loop: what the daemon listens to, and how a
flood is shed rather than queued.

A human plays at most a few hundred notes a second; a stuck controller, a feedback loop or
a sequencer dumping a file plays thousands. The gate lets note-ons through at up to
`NOTE_ONS_PER_SECOND` (with a burst of `NOTE_ON_BURST`, so no chord is ever cut) and drops
the rest. It tracks the keys whose note-on it let through: their note-off always passes
(every note-on the loop hears gets its release), any other note-off is dropped (it would
change nothing, and a flood of them must not fill the queue), and a note-on passes only
while the queue has room for it and for the releases still to come, so the loop's queue
never holds more than `QUEUE_LIMIT` messages. What it
sheds is counted and logged at most once a second. Messages on channels the daemon does not
listen to (by default the drum channel, 10) are counted and dropped: a drum machine's
note-on that never gets a note-off cannot hold a phrase open. Besides notes, only the
sustain pedal's moves pass (down, up). With `controls` set, the controllers, program changes
and keys the service takes as its own (`GateSettings`: the knobs of its map on their
channel, the panic and end-of-call knobs and keys, program changes that select a model) go
there. Every other control change, program change, pitch bend and aftertouch on a channel
listened to is the player's: MIDI thru sends it on as played (a mod wheel, an expression or
soft pedal, a patch chosen for the synth), and the loop, which plays by notes, never hears it;
without thru it is counted unused.

Every key and pedal it let down gets its release, whatever comes: the release passes on
any channel (the channels listened to may change while a key is held) and is never taken
for an echo of MIDI thru's own; a key struck again unreleased is released first; an All
Notes Off, All Sound Off, Reset All Controllers, mode change or System Reset from the
keyboard is the releases it means; and should note-offs be lost on the way, the longest
held of `MAX_HELD_KEYS` keys is let go rather than the gate going deaf.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from antiphon.daemon.midi.echo_guard import EchoGuard
from antiphon.daemon.midi.wire import (
    ALL_NOTES_OFF_CONTROLLER,
    CONTROL_CHANGE,
    NOTE_OFF,
    PROGRAM_CHANGE,
    SUSTAIN_PEDAL,
    channel_of,
    is_note,
    is_note_on,
    sustain_state,
)

log = logging.getLogger(__name__)

NOTE_ONS_PER_SECOND = 300.0
NOTE_ON_BURST = 100
QUEUE_LIMIT = 512
SHED_LOG_SECONDS = 1.0
CLOCK_MESSAGES = frozenset({0xF8, 0xFA, 0xFB, 0xFC, 0xF2})  # clock, start, continue, stop, SPP
TRANSPORT_MESSAGES = frozenset({0xFA, 0xFB, 0xFC, 0xF2})  # the loop acts on these too
MAX_HELD_KEYS = 256  # keys held at once before the longest held is taken as released
SYSTEM_RESET = 0xFF
# Control changes that end every note of their channel (MIDI 1.0): All Sound Off, Reset All
# Controllers (the pedal), All Notes Off, and the mode changes (omni, mono, poly).
CHANNEL_MODE_ENDS = frozenset({120, 121, 123, 124, 125, 126, 127})
# The channel messages besides notes, by status, and their data bytes: poly aftertouch,
# control change, program change, channel aftertouch, pitch bend.
VOICE_DATA = {0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}


@dataclass
class GateStats:
    received: int = 0  # every message the input delivered: knobs, clock and echoes too
    kept: int = 0  # handed to the loop
    other_channels: int = 0  # notes on channels not listened to
    unused: int = 0  # kinds of message the loop does not use (yet)
    shed: int = 0  # dropped: note-ons over the rate, and releases of notes not let through
    echoes: int = 0  # dropped: Antiphon's own output come back (EchoGuard)
    controls: int = 0  # knobs, program changes and the panic note, passed to `controls`
    thru_only: int = 0  # wheels, pressures, other controllers and programs: MIDI thru's
    foreign_clock: int = 0  # clock and transport on the note input, ignored (--clock-in)


@dataclass(frozen=True)
class GateSettings:
    """What the gate lets through and where, as the config says now: the part of it a
    running daemon changes live (`InputGate.retune`), all at once."""

    channels: frozenset[int]  # 1-based channels listened to
    thru: Callable[[list[int]], None] | None = None  # MIDI thru: what it lets pass; None: off
    control_notes: frozenset[int] = frozenset()  # keys that are buttons (panic, end of call)
    # What `controls` takes of the rest: (0-based channel, controller) pairs, and the
    # 0-based channels whose program changes it takes (the knobs as the config maps them).
    control_ccs: frozenset[tuple[int, int]] = frozenset()
    program_channels: frozenset[int] = frozenset()


class InputGate:
    """A MIDI callback: `gate(arrived, message)` puts what the loop needs on `inbox`.

    Its collaborators come through the constructor: `echo_guard` drops Antiphon's own
    output coming back; `controls` takes the knobs, program changes and control keys (a
    thread of the service takes them from a queue; None: they are unused, as any other
    message); `clock_sink` takes MIDI clock, transport and song position (a clock follower,
    on this thread: a pulse must be timed as it comes; None: they are unused). With a clock
    port of its own (`clock_on_input` False, --clock-in), clock and transport arriving on the
    note input are another device's (a keyboard's own clock, an arpeggiator's): they would
    add their pulses to the DAW's and their Stop would silence the daemon, so they are
    counted and dropped. What the config changes live comes as one `GateSettings`
    (`retune`)."""

    def __init__(self, inbox: queue.SimpleQueue, channels: Collection[int],
                 taps=None, *,  # a MessageTaps (play/message_taps.py), or None
                 thru: Callable[[list[int]], None] | None = None,
                 control_notes: Collection[int] = frozenset(),
                 control_ccs: Collection[tuple[int, int]] = frozenset(),
                 program_channels: Collection[int] = frozenset(),
                 echo_guard: EchoGuard | None = None,
                 controls: Callable[[list[int]], None] | None = None,
                 clock_sink: Callable[[float, list[int]], None] | None = None,
                 clock_on_input: bool = True) -> None:
        self._inbox = inbox
        self.taps = taps
        self.stats = GateStats()
        self._tokens = float(NOTE_ON_BURST)
        self._refilled = time.perf_counter()
        # Keys whose note-on passed, not released, the longest held first.
        self._held: dict[tuple[int, int], None] = {}
        self._pedal_down: set[int] = set()  # channels (0-based) whose sustain pedal is down
        self._shed_logged = 0
        self._last_log = 0.0
        self._lock = threading.Lock()  # two ports' readers may call at once (clock input)
        self.echo_guard = echo_guard
        self.controls = controls
        self.clock_sink = clock_sink
        self.clock_on_input = clock_on_input
        # While a knob is learnt `controls` takes every controller moved (take_every_cc).
        self._every_cc = False
        self.retune(GateSettings(frozenset(channels), thru, frozenset(control_notes),
                                 frozenset(control_ccs), frozenset(program_channels)))

    def retune(self, settings: GateSettings) -> None:
        """Let through what `settings` says from the next message on (the config changed
        live: channels, MIDI thru, control keys, the knobs the service takes)."""
        with self._lock:
            self.channels = settings.channels
            self.thru = settings.thru
            self.control_notes = settings.control_notes
            # A set lookup on the reader thread: (0-based channel, controller) pairs.
            self._control_ccs = settings.control_ccs
            self._program_channels = settings.program_channels

    def take_controls(self, ccs: Collection[tuple[int, int]],
                      program_channels: Collection[int] = ()) -> None:
        """Hand `controls` the control changes of these (0-based channel, controller) pairs
        and the program changes on these 0-based channels, all else as it is (`retune`
        changes them with the rest of the settings); any other passes as the player's."""
        with self._lock:
            self._control_ccs = frozenset(ccs)
            self._program_channels = frozenset(program_channels)

    def take_every_cc(self, every: bool) -> None:
        """While a knob is learnt (`every`), hand `controls` every controller moved on a
        channel listened to: the one turned is not on the map yet."""
        with self._lock:
            self._every_cc = every

    def __call__(self, arrived: float, message: list[int], clock_port: bool = False) -> None:
        control = False
        passed: list[list[int]] = []  # what the loop (and MIDI thru) hear of it
        thru_only: list[int] | None = None  # what MIDI thru alone sends on
        with self._lock:
            self.stats.received += 1
            guard = self.echo_guard
            owed = self._owed(message)
            if owed and guard is not None and is_note(message) \
                    and guard.held_key_echo(message, arrived):
                self._echo()  # the answer's release of the pitch, back round a known loop
            elif owed:  # a held key's release: the player's, never an echo
                passed = self._release(message)
                if guard is not None:
                    guard.heard(message, arrived)  # an arrival all the same, to judge by
            elif guard is not None and guard.is_echo(message, arrived):
                self._echo()
            elif message[0] in CLOCK_MESSAGES and not (clock_port or self.clock_on_input):
                self.stats.foreign_clock += 1
            elif self.clock_sink is not None and message[0] in CLOCK_MESSAGES:
                if message[0] in TRANSPORT_MESSAGES:
                    passed = [message]
                self.clock_sink(arrived, message)
            elif _ends_every_note(message):  # All Notes Off, a mode change, a reset
                passed = self._release_all(message)
                if self.thru is not None and channel_of(message) in self.channels:
                    thru_only = message  # the synth resets its own (controllers, sound)
            elif self.controls is not None and self._is_control(message):
                control = True
                self.stats.controls += 1
            elif _is_voice(message) and sustain_state(message) is None:
                thru_only = self._pass_on(message)
            else:
                passed = self._admit(message)
            if self.taps is not None:
                self.taps.received(arrived, message, bool(passed))
        if control:
            self.controls(message)
        thru = self.thru
        for each in passed:
            if thru is not None and each[0] < 0xF0:
                if guard is not None:
                    guard.thru_coming(each)  # the player's note: it teaches the guard no loop
                thru(each)
            self._inbox.put_nowait((arrived, each))
        if thru_only is not None and thru is not None:
            if guard is not None:
                guard.thru_coming(thru_only)
            thru(thru_only)

    def clock_input(self, arrived: float, message: list[int]) -> None:
        """A message from the clock's own port (--clock-in): its clock, transport and song
        position count; its notes are no call (the notes come on the input)."""
        if message and message[0] in CLOCK_MESSAGES:
            self(arrived, message, clock_port=True)

    def _is_control(self, message: list[int]) -> bool:
        """A knob, a program change or a control key, on a channel listened to (the key's
        release is taken too: it was never a call's)."""
        if channel_of(message) not in self.channels:
            return False
        kind = message[0] & 0xF0
        if kind == CONTROL_CHANGE:
            return (len(message) == 3 and message[1] != SUSTAIN_PEDAL and message[2] < 128
                    and (self._every_cc or (message[0] & 0x0F, message[1]) in self._control_ccs))
        if kind == PROGRAM_CHANGE:
            return (len(message) == 2 and message[1] < 128
                    and message[0] & 0x0F in self._program_channels)
        if not is_note(message) or message[1] not in self.control_notes:
            return False
        # A key made a control while it was held down as a note: its release is the note's
        # (the loop and MIDI thru heard it go down, and must hear it come up).
        return is_note_on(message) or (message[0] & 0x0F, message[1]) not in self._held

    def _pass_on(self, message: list[int]) -> list[int] | None:
        """A controller, program, pressure or bend of the player's: MIDI thru's (on a
        channel listened to), of no use to the loop."""
        if self.thru is None:
            self.stats.unused += 1
            return None
        if channel_of(message) not in self.channels:
            self.stats.other_channels += 1
            return None
        self.stats.thru_only += 1
        return message

    def _echo(self) -> None:
        self.stats.echoes += 1  # the guard says once in the log that a loop is there

    def _owed(self, message: list[int]) -> bool:
        """Whether `message` releases a key or a pedal this gate let down: it passes on any
        channel (the channels listened to may have changed since), and is never taken for
        an echo of MIDI thru's own release, which can look the same to the byte."""
        if is_note(message) and not is_note_on(message):
            return (message[0] & 0x0F, message[1]) in self._held
        return sustain_state(message) is False and message[0] & 0x0F in self._pedal_down

    def _release(self, message: list[int]) -> list[int]:
        if is_note(message):
            del self._held[(message[0] & 0x0F, message[1])]
        else:
            self._pedal_down.discard(message[0] & 0x0F)
        self.stats.kept += 1
        return [message]

    def _release_all(self, message: list[int]) -> list[list[int]]:
        """The releases a channel's All Notes Off (or All Sound Off, Reset All Controllers,
        a mode change, a System Reset) means for the keys and the pedal it let down: the
        loop hears the phrase end and MIDI thru releases what it sounded."""
        channels = range(16) if message[0] == SYSTEM_RESET else [message[0] & 0x0F]
        releases = [[NOTE_OFF | channel, pitch, 0] for channel, pitch in list(self._held)
                    if channel in channels]
        for channel, pitch in list(self._held):
            if channel in channels:
                del self._held[(channel, pitch)]
        if message[0] == SYSTEM_RESET or message[1] != ALL_NOTES_OFF_CONTROLLER:
            releases += [[CONTROL_CHANGE | channel, SUSTAIN_PEDAL, 0]
                         for channel in sorted(self._pedal_down) if channel in channels]
            self._pedal_down.difference_update(channels)
        self.stats.kept += len(releases)
        if not releases:
            self.stats.unused += 1
        return releases

    def _admit(self, message: list[int]) -> list[list[int]]:
        stats = self.stats
        pedal = sustain_state(message)
        if not is_note(message) and pedal is None:
            stats.unused += 1
            return []
        if channel_of(message) not in self.channels:
            stats.other_channels += 1
            return []
        if pedal is not None:
            return [message] if self._admit_pedal(message[0] & 0x0F, pedal) else []
        key = (message[0] & 0x0F, message[1])
        if not is_note_on(message):
            self._shed()  # the release of a shed note-on, or of nothing
            return []
        room = self._inbox.qsize() + len(self._held) < QUEUE_LIMIT - 1
        if not room or not self._take_token():
            self._shed()
            return []
        passed = []
        if key in self._held:  # struck again unreleased: a release first keeps them paired
            del self._held[key]
            passed.append([NOTE_OFF | key[0], key[1], 0])
        elif len(self._held) >= MAX_HELD_KEYS:  # note-offs lost on the way (no hands hold
            oldest = next(iter(self._held))   # this many): the longest held is let go
            del self._held[oldest]
            passed.append([NOTE_OFF | oldest[0], oldest[1], 0])
        self._held[key] = None
        passed.append(message)
        stats.kept += len(passed)
        return passed

    def _admit_pedal(self, channel: int, down: bool) -> bool:
        """Only the pedal's moves down and up pass (a continuous pedal sends dozens of
        values per press); a flood of them is shed like notes, a lift always passes."""
        if down == (channel in self._pedal_down):
            self.stats.unused += 1
            return False
        if down:
            if not self._take_token():
                return self._shed()
            self._pedal_down.add(channel)
        else:
            self._pedal_down.discard(channel)
        self.stats.kept += 1
        return True

    def _take_token(self) -> bool:
        now = time.perf_counter()
        self._tokens = min(NOTE_ON_BURST, self._tokens + (now - self._refilled) *
                           NOTE_ONS_PER_SECOND)
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def _shed(self) -> bool:
        stats = self.stats
        stats.shed += 1
        now = time.perf_counter()
        if now - self._last_log >= SHED_LOG_SECONDS:
            log.warning("input flood: shed %d messages in the last %.1f s (%d in all); "
                        "listening goes on", stats.shed - self._shed_logged,
                        min(now - self._last_log, 99.9), stats.shed)
            self._shed_logged = stats.shed
            self._last_log = now
        return False


def parse_channels(text: str) -> frozenset[int]:
    """"all", or comma-separated channels and ranges of 1..16 ("1-9,11-16")."""
    if text.strip().casefold() == "all":
        return frozenset(range(1, 17))
    channels: set[int] = set()
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise ValueError(f"expected channels like '1-9,11-16' or 'all', got {text!r}") from None
        if not 1 <= first <= last <= 16:
            raise ValueError(f"channels are 1..16, got {part.strip()!r} in {text!r}")
        channels.update(range(first, last + 1))
    return frozenset(channels)


def _is_voice(message: list[int]) -> bool:
    """A whole channel message other than a note (VOICE_DATA)."""
    data = VOICE_DATA.get(message[0] & 0xF0) if message[0] < 0xF0 else None
    return data is not None and len(message) == data + 1 and max(message[1:]) < 128


def _ends_every_note(message: list[int]) -> bool:
    return message[0] == SYSTEM_RESET or (
        len(message) == 3 and message[0] & 0xF0 == CONTROL_CHANGE
        and message[1] in CHANNEL_MODE_ENDS)
