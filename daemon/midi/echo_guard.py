"""The feedback guard: Antiphon's own output coming back into its input (a loop in the
patching: the synth's MIDI thru wired back, a DAW track monitoring Antiphon's notes back
into its input, `jack_connect` of Antiphon Out to Antiphon In) must not be heard as the
player, or it answers itself for ever (each echo barges in on the answer that sent it),
and with MIDI thru on, every note would go round the loop again.

Each note message and control change the daemon sends (a knob's value sent back to a
controller's LED ring is one) is remembered for `MAX_LOOP_SECONDS`. A message that comes
back identical (same status, pitch or controller, and value; a release matches a release
whichever way it is written) is an echo:

- within `ECHO_WINDOW_SECONDS` of the send (a loop through JACK or a USB cable; three
  such echoes are a quick loop, recognised as a slow one is), unless an older send of
  the same bytes has not come back and is shown to be its (below): a loop keeps the
  order, so of a note repeated at one velocity the oldest send not back is matched;
- at the delay of a loop already recognised, give or take `tolerance(delay)`; or, for a
  send that has not come back yet, give or take `spread(delay)` (a loaded machine wakes a
  thread late, in the loop or here);
- at a delay seen for the first time, when the answer's notes sent just before it (or with
  it, a chord) came back at that same delay too: most of them, or two (content and timing:
  a loop returns everything, at one delay; a MIDI system under load may lose a message).
  That recognises the loop: the log says so once, with its delay, and from then on
  anything of ours back at that delay is dropped. Should those earlier notes not have come
  back, the message is the player's.
- Each send is matched once round each loop: two loops at once (a synth's thru wired
  back and a DAW monitoring) bring every note back twice, at two delays, and a second
  arrival near the first's delay is no echo (a player's copy took the first).
- A release of a key the player holds is the player's, unless it is our release of that
  pitch back round a loop already recognised, at its delay (`held_key_echo`): the player
  struck the answer's last pitch before its release came back. Should that echo have
  been lost and the player let go just then, the key's next strike releases it.
- An answer's opening note-on back identical with nothing sent before it to judge by is
  taken for an echo too (it would barge in on the answer that sent it).

Only the answer's notes teach a loop: what MIDI thru sends is the player's own notes, and a
player (an arpeggiator, a drum pad at one velocity) repeating them at a steady period is
indistinguishable from a loop; thru's echoes are dropped within the short window and at a
loop's delay once the answer's notes taught it. A player who strikes exactly the note
(pitch and velocity) an answer struck, at a loop's delay after it, or the note an answer
opened with, within MAX_LOOP_SECONDS of it, loses that one note (the next one is heard):
rare, and far cheaper than a loop that never ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import islice

from antiphon.daemon.midi.wire import CONTROL_CHANGE, NOTE_OFF, NOTE_ON, is_note, is_note_on

log = logging.getLogger(__name__)

ECHO_WINDOW_SECONDS = 0.05  # a loop through JACK or USB MIDI comes back within a few ms
EARLY_SECONDS = 0.005  # an arrival stamped this much before the send still counts (clocks)
MAX_LOOP_SECONDS = 1.5  # the slowest loop recognised (a DAW's buffers, a plug-in's delay)
LOOKBACK_SECONDS = 2.5  # the sends before a candidate echo that judge it (a long note's
                        # release is judged by its strike)
EVIDENCE_SENDS = 8  # at most this many of them (the reader thread stays light) ...
SENDS_SCANNED = 256  # ... found among the latest this many sends
SAME_SENDS_JUDGED = 64  # an arrival is matched against the latest this many of its bytes
DELAY_TOLERANCE = 0.03  # a loop's delay varies by this much (a MIDI system's periods) ...
RELATIVE_TOLERANCE = 0.15  # ... or by this share of itself, whichever is more
ARRIVALS_KEPT_SECONDS = MAX_LOOP_SECONDS + LOOKBACK_SECONDS + 0.5
REMEMBERED = 4096  # sends (and arrivals) kept; far more than a window's worth when playing
MAX_SPREAD_SECONDS = 0.1  # one loop's delays spread this much at most ...
MAX_SPREAD_SHARE = 0.3  # ... or this share of its delay, whichever is more
LOOPS_KEPT = 4  # loops recognised at once (two patchings back, say)
QUICK_ECHOES_TOLD = 3  # quick echoes before the log says a loop is there (not a coincidence)


def tolerance(delay: float) -> float:
    """How far an echo's delay may stray from its loop's."""
    return max(DELAY_TOLERANCE, RELATIVE_TOLERANCE * delay)


def spread(delay: float) -> float:
    """How far one loop's delays may spread (a loaded machine's threads wake late)."""
    return max(MAX_SPREAD_SECONDS, MAX_SPREAD_SHARE * delay)


def _widen(loop: list[float], delay: float) -> None:
    """Take `delay` into the loop's range; should the range grow past its spread, it
    moves instead (a drift), keeping `delay` at its end."""
    low, high = min(loop[0], delay), max(loop[1], delay)
    width = spread(loop[0])
    if high - low > width:
        if delay < loop[0]:
            high = low + width
        else:
            low = high - width
    loop[0], loop[1] = low, high


@dataclass(slots=True)
class _Send:
    at: float
    key: tuple[int, ...]
    thru: bool  # MIDI thru's: the player's note, not ours
    # The delays its echoes came back at: once round each loop (two loops at once, a
    # synth's thru wired back and a DAW monitoring, bring each send back twice).
    backs: list[float] = field(default_factory=list)

    def free(self, delay: float) -> bool:
        """Whether an echo at `delay` is not one already matched, round the same loop."""
        return all(abs(delay - back) > spread(max(back, delay)) for back in self.backs)


class EchoGuard:
    """Remembers what was sent (`sent`, from the scheduler's thread and MIDI thru's) and
    recognises it when it comes back (`is_echo`, from the input's reader thread)."""

    def __init__(self) -> None:
        self._sent: deque[_Send] = deque()  # in the order sent
        self._sent_by_key: dict[tuple[int, ...], deque[_Send]] = {}
        self._arrivals: deque[tuple[float, tuple[int, ...]]] = deque()  # in order
        self._arrived_by_key: dict[tuple[int, ...], deque[float]] = {}
        self._loops: list[list[float]] = []  # the loops recognised: [least, most] delay, s
        self._told = False  # the log said a loop is there
        self._quick_echoes = 0
        self._thru_next: tuple[int, tuple[int, ...]] | None = None  # (thread, key)
        self._lock = threading.Lock()
        self.echoes = 0

    @property
    def loop_delays(self) -> list[float]:
        """The delays (seconds) of the slow loops recognised so far."""
        with self._lock:
            return [(low + high) / 2 for low, high in self._loops]

    def thru_coming(self, message: Sequence[int]) -> None:
        """MIDI thru is about to send `message` (on this thread): that send is the
        player's note, which teaches no loop."""
        key = _key(message)
        if key is not None:
            self._thru_next = (threading.get_ident(), key)

    def sent(self, message: Sequence[int], at: float | None = None) -> None:
        key = _key(message)
        if key is None:
            return
        with self._lock:
            thru = self._thru_next == (threading.get_ident(), key)
            if thru:
                self._thru_next = None
            send = _Send(time.perf_counter() if at is None else at, key, thru)
            self._sent.append(send)
            self._sent_by_key.setdefault(key, deque()).append(send)
            while len(self._sent) > REMEMBERED:
                self._forget_send()

    def heard(self, message: Sequence[int], arrived: float) -> None:
        """A message that arrived and was taken without asking (a held key's release):
        remembered, as every arrival is, to judge later ones by."""
        key = _key(message)
        if key is not None:
            with self._lock:
                self._hear(key, arrived)

    def is_echo(self, message: Sequence[int], arrived: float) -> bool:
        """Whether `message` is a send of ours coming back; each send matches once."""
        key = _key(message)
        if key is None:
            return False
        with self._lock:
            self._prune(arrived)
            self._hear(key, arrived)
            echo, news = self._judge(key, arrived)
            if echo:
                self.echoes += 1
        if news is not None:
            log.warning("feedback loop: Antiphon's own notes come back into its input %.0f ms "
                        "after they leave (a DAW monitoring Antiphon's track, a synth's thru "
                        "wired back?); they are dropped, not answered. Check the MIDI "
                        "connections", news * 1e3)
        return echo

    def held_key_echo(self, message: Sequence[int], arrived: float) -> bool:
        """Whether a release of a key the player holds is, rather, our own note-off of
        that pitch back round a loop already recognised (the player struck the answer's
        last pitch before its release came back): its echo, due now, cut the player's
        note short (and MIDI thru's). Only round a known loop, at its delay: a release
        that comes otherwise is the player's, so no key stays down."""
        key = _key(message)
        if key is None or not self._loops:
            return False
        with self._lock:
            self._prune(arrived)
            for send in islice(reversed(self._sent_by_key.get(key, ())), SAME_SENDS_JUDGED):
                delay = arrived - send.at
                if delay > MAX_LOOP_SECONDS + 0.5:
                    break
                if send.thru or not send.free(delay) or not any(
                        low - tolerance(low) <= delay <= high + tolerance(high)
                        for low, high in self._loops):
                    continue
                send.backs.append(delay)
                self._hear(key, arrived)
                self.echoes += 1
                return True
        return False

    # -- under the lock ---------------------------------------------------------------------
    def _judge(self, key: tuple[int, ...], arrived: float) -> tuple[bool, float | None]:
        """(echo, the delay of a loop recognised just now or None)."""
        latest = islice(reversed(self._sent_by_key.get(key, ())), SAME_SENDS_JUDGED)
        sends = [(send, arrived - send.at) for send in latest
                 if -EARLY_SECONDS <= arrived - send.at
                 <= MAX_LOOP_SECONDS + 0.5 and send.free(arrived - send.at)]
        # The oldest first: a loop keeps the order of what goes round it, so of identical
        # sends (a note repeated at one velocity) the oldest not back yet is the one this
        # is; the latest would pair it with a send just gone, at a wrong delay, and leave a
        # later echo with no send of its own to match (it struck as the player's).
        sends.reverse()
        for send, delay in sends:  # round a loop known: the likeliest
            for loop in self._loops:
                if loop[0] - tolerance(loop[0]) <= delay <= loop[1] + tolerance(loop[1]):
                    send.backs.append(delay)
                    _widen(loop, delay)
                    return True, None
        for send, delay in sends:  # not back round a loop known yet: late (or early) there
            if any(low - spread(low) <= delay <= high + spread(low) for low, high in self._loops):
                send.backs.append(delay)
                return True, None
        quick = next(((send, delay) for send, delay in sends if delay <= ECHO_WINDOW_SECONDS),
                     None)
        candidates = [(send, delay) for send, delay in sends if delay <= MAX_LOOP_SECONDS
                      and not send.thru and key[0] & 0xF0 != CONTROL_CHANGE]
        if quick is not None and not any(delay > ECHO_WINDOW_SECONDS for _, delay in candidates):
            return self._quick(*quick)
        # An older send of these bytes not back yet: this is likelier its echo round a
        # slow loop (a loop keeps the order) than the one just sent, if the notes sent
        # before it came back at that delay too.
        opening = None
        for send, delay in candidates:
            expected, delays = self._evidence(send, delay)
            # Two of them back at this delay beside it, or most: a loop (a MIDI system
            # under load may lose a message or two on the way round).
            if len(delays) >= 2 or (delays and 2 * len(delays) >= expected):
                send.backs.append(delay)
                return True, self._learn([delay, *delays])
            if expected == 0 and key[0] & 0xF0 == NOTE_ON and opening is None:
                opening = send, delay
        if quick is not None:
            return self._quick(*quick)
        if opening is not None:
            # A send of these bytes opened an answer, with nothing before it to judge by:
            # taken for its echo, as it would barge in on that answer.
            opening[0].backs.append(opening[1])
            return True, None
        return False, None

    def _quick(self, send: _Send, delay: float) -> tuple[bool, float | None]:
        """An echo within the quick window: `send`'s."""
        # Should this be an older send's echo round a slow loop, arriving as the same
        # bytes leave again, that older one still matches at the loop's delay.
        send.backs.append(delay)
        self._quick_echoes += 1
        if self._quick_echoes != QUICK_ECHOES_TOLD:
            return True, None
        # A quick loop is there: should its thread (or ours) wake late, its echoes are
        # still its own, as a slow loop's are.
        self._loops.append([0.0, ECHO_WINDOW_SECONDS])
        del self._loops[:-LOOPS_KEPT]
        told, self._told = self._told, True
        return True, None if told else max(delay, 0.0)

    def _evidence(self, candidate: _Send, delay: float) -> tuple[int, list[float]]:
        """How many of the answer's notes sent shortly before `candidate` should have come
        back by now had they gone round a loop of `delay`, and the delays of those that
        did. Notes sent with it (a chord) count where they came back already: they may
        not have yet."""
        slack = tolerance(delay)
        expected, delays = 0, []
        for send in islice(reversed(self._sent), SENDS_SCANNED):
            if expected >= EVIDENCE_SENDS or candidate.at - send.at > LOOKBACK_SECONDS:
                break
            if (send.thru or send is candidate or send.at > candidate.at + slack
                    or send.key[0] & 0xF0 == CONTROL_CHANGE):
                continue
            due = send.at + delay
            back = next((when for when in self._arrived_by_key.get(send.key, ())
                         if abs(when - due) <= slack), None)
            if back is not None:
                delays.append(back - send.at)
            if back is not None or send.at <= candidate.at - slack:
                expected += 1
        return expected, delays

    def _learn(self, delays: list[float]) -> float | None:
        """A loop at about these delays: recognised; returns its delay the first time a
        loop is recognised (for the log, which says so once)."""
        delay = sorted(delays)[len(delays) // 2]
        for loop in self._loops:
            if loop[0] - spread(loop[0]) <= delay <= loop[1] + spread(loop[0]):
                _widen(loop, delay)  # the same loop, its delay varying more than thought
                return None
        self._loops.append([delay, delay])
        del self._loops[:-LOOPS_KEPT]
        if self._told:
            log.debug("echoes of ours also come back %.0f ms after they leave",
                      delay * 1e3)
            return None
        self._told = True
        return delay

    def _hear(self, key: tuple[int, ...], arrived: float) -> None:
        self._arrivals.append((arrived, key))
        self._arrived_by_key.setdefault(key, deque()).append(arrived)
        while len(self._arrivals) > REMEMBERED:
            self._forget_arrival()

    def _prune(self, now: float) -> None:
        while self._sent and now - self._sent[0].at > MAX_LOOP_SECONDS + LOOKBACK_SECONDS:
            self._forget_send()
        while self._arrivals and now - self._arrivals[0][0] > ARRIVALS_KEPT_SECONDS:
            self._forget_arrival()

    def _forget_send(self) -> None:
        send = self._sent.popleft()
        same = self._sent_by_key[send.key]
        same.popleft()  # the oldest of its key: both are in the order sent
        if not same:
            del self._sent_by_key[send.key]

    def _forget_arrival(self) -> None:
        _, key = self._arrivals.popleft()
        same = self._arrived_by_key[key]
        same.popleft()
        if not same:
            del self._arrived_by_key[key]


def _key(message: Sequence[int]) -> tuple[int, ...] | None:
    """What an echo must match: a note-on's bytes; a release's channel and pitch (a DAW
    may write it as a note-on of velocity 0 or as a note-off); a control change's bytes,
    and a program change's, an aftertouch's or a pitch bend's (MIDI thru sends the player's
    on: round a loop they would go on for ever). None for the messages whose echo is not
    recognised."""
    if is_note(message):
        if is_note_on(message):
            return (NOTE_ON | message[0] & 0x0F, message[1], message[2])
        return (NOTE_OFF | message[0] & 0x0F, message[1])
    if len(message) in (2, 3) and 0xA0 <= message[0] < 0xF0 and len(message) == (
            2 if 0xC0 <= message[0] < 0xE0 else 3):
        return tuple(message)
    return None
