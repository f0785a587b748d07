"""The keyboard's own controls steering the daemon: a program change swaps the model (one of
the config's `program_models`), a panic knob (`panic_cc`) or key (`panic_note`) silences it,
an end-of-call knob (`end_cc`) or key (`end_note`) ends the call (`phrase_end` control),
and the knobs of the CC map (`cc_map`, cc_map.py) set live options.

The input gate hands these messages over on the input's reader thread; they wait in a
short queue for a thread of their own, because a model swap takes a moment to load and the
reader must go on reading. Each becomes the same request the control socket takes, so the
same checks hold: a model that does not load is refused and the old one plays on.

A knob swept sends dozens of values a second, faster than settings are applied (a change
waits for the interaction loop between two answers): only each controller's latest value
matters, so the reader keeps that one value per controller and queues the controller only
once until the thread has taken it. The panic and end-of-call knobs are not folded so:
each of their moves past the middle counts.

The same thread learns knobs (`antiphon learn`: the next controller that moves is mapped);
knob_commands.py carries out the `learn` and `knobs` control commands.

The knobs steer through a `KnobHost` (the Controller: its lock and its checks), given at
construction or when the thread starts (`start(host)`): the input gate is built with the
knobs as its `controls`, before the daemon and its Controller exist. Of the daemon they use
only what `DaemonControls` (steering.py) declares.

Knobs listen on their own channel (`knob_channel`, by default the lowest channel listened
to): a controller moved on another channel, another instrument's mod wheel, is counted and
moves nothing. A learnt knob is remembered (`learned`): where the map comes from the command
line or the environment, which win over the config file the knob was saved in, a reload
puts it back on the map read anew (`with_learned`).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from antiphon.daemon.config.cc_map import FIRST_MODE_CC, FIXED_MEANING_CCS, Knob, with_knob
from antiphon.daemon.config.daemon_config import ConfigError, DaemonConfig
from antiphon.daemon.control.steering import DaemonControls
from antiphon.daemon.midi.wire import CONTROL_CHANGE, NOTE_ON, PROGRAM_CHANGE

log = logging.getLogger(__name__)

QUEUE_LIMIT = 256  # room for every controller's move (folded) besides programs and keys
STOP = None
MESSAGE, MOVED = "message", "moved"  # what waits in the queue: a message, or a knob's number
LEARN_POLL_SECONDS = 0.2  # how often a learn looks whether its client is still there


def request_for(message: Sequence[int], config: DaemonConfig) -> dict | None:
    """The control request a message makes under `config`, or None."""
    kind = message[0] & 0xF0
    if kind == PROGRAM_CHANGE:
        models = config.program_list()
        program = message[1]
        if program >= len(models):
            log.info("program %d selects no model (program_models lists %d)", program + 1,
                     len(models))
            return None
        if models[program] == (config.model or "default"):
            return None  # already playing: a swap would only cost a reload
        return {"command": "model", "name": models[program]}
    if kind == CONTROL_CHANGE and message[1] == config.panic_cc and message[2] >= 64:
        return {"command": "panic"}
    if kind == NOTE_ON and message[1] == config.panic_note and message[2] > 0:
        return {"command": "panic"}
    if config.phrase_end == "control" and (
            (kind == CONTROL_CHANGE and message[1] == config.end_cc and message[2] >= 64)
            or (kind == NOTE_ON and message[1] == config.end_note and message[2] > 0)):
        return {"command": "end_phrase"}
    return None


def taken_controls(config: DaemonConfig) -> tuple[frozenset[tuple[int, int]], frozenset[int]]:
    """What the knobs take from the input under `config` (the gate's GateSettings): the
    (0-based channel, CC) of each knob of the map on the knob channels and of panic_cc and
    end_cc on any channel, and the 0-based knob channels when program_models selects models
    by program. The rest (a mod wheel, an expression pedal, a program for the synth) is the
    player's, sent on by MIDI thru."""
    channels = [channel - 1 for channel in config.knob_channels()]
    ccs = {(channel, knob.cc) for knob in config.knob_map() for channel in channels}
    ccs.update((channel, cc) for cc in (config.panic_cc, config.end_cc) if cc is not None
               for channel in range(16))
    return frozenset(ccs), frozenset(channels if config.program_list() else ())


class KnobError(ValueError):
    """A knob command that cannot be carried out; the message says why, for the user."""


class KnobHost(Protocol):
    """Whom the knobs steer the daemon through: the Controller."""

    @property
    def daemon(self) -> DaemonControls: ...

    def handle(self, request: Mapping[str, Any]) -> dict: ...


class Knobs:
    """Takes control messages (`knobs(message)`, any thread) and carries them out through
    `host` on its own thread. Until it has a host, a message is passed over (none comes:
    the daemon listens only once it starts, after the knobs)."""

    def __init__(self, host: KnobHost | None = None) -> None:
        self._host = host
        self._queue: queue.Queue = queue.Queue(QUEUE_LIMIT)
        self._thread = threading.Thread(target=self._run, name="antiphon-knobs", daemon=True)
        self._moves: dict[int, int] = {}  # controller -> its latest value, not yet taken
        self._moves_lock = threading.Lock()
        self._learning: _Learning | None = None
        self._learn_lock = threading.Lock()  # one learn at a time
        self._channels: tuple[DaemonConfig | None, frozenset[int]] = (None, frozenset())
        self.learned: dict[str, Knob] = {}  # by setting: kept over a flag's map at reloads
        self.heard_on: dict[int, int] = {}  # CC -> the channel its knob last moved on
        self.other_channels = 0  # knob moves on channels the knobs do not listen on
        self.carried_out = 0

    def __call__(self, message: Sequence[int]) -> None:
        """Hand a message over (the reader thread): never blocks, never waits for a set."""
        host = self._host
        if host is None:
            return
        if len(message) == 3 and message[0] & 0xF0 == CONTROL_CHANGE:
            config = host.daemon.config
            if message[1] not in (config.panic_cc, config.end_cc):
                channel = (message[0] & 0x0F) + 1
                if channel in self._knob_channels(config):
                    self.heard_on[message[1]] = channel  # where its LED ring listens
                    self._moved(message[1], message[2])
                else:  # another instrument's mod wheel: no knob of ours
                    self.other_channels += 1
                    learning = self._learning
                    if learning is not None:
                        learning.elsewhere = ((message[0] & 0x0F) + 1, message[1])
                return
        if len(message) == 2 and message[0] & 0xF0 == PROGRAM_CHANGE:
            config = host.daemon.config
            if (message[0] & 0x0F) + 1 not in self._knob_channels(config):
                self.other_channels += 1  # a DAW choosing another track's sound: no model
                return
        try:
            self._queue.put_nowait((MESSAGE, tuple(message)))
        except queue.Full:
            pass  # a flood of programs or keys: the thread is behind, later ones still come

    def _knob_channels(self, config: DaemonConfig) -> frozenset[int]:
        """`config.knob_channels()`, worked out once per config (the reader thread asks)."""
        known, channels = self._channels
        if known is not config:
            channels = config.knob_channels()
            self._channels = (config, channels)
        return channels

    def with_learned(self, config: DaemonConfig, map_from: str) -> DaemonConfig:
        """A re-read `config` with the learnt knobs put back on its map, where the map came
        from the command line or the environment (`map_from`, load_config's source): those
        win over the file `antiphon learn` saved them in, and would drop them at each
        reload. A map from the file already holds them (or the user's later edit of it,
        which wins). A learnt knob the new config refuses (its CC now the panic_cc, ...)
        is dropped, and the log says so."""
        if not map_from.startswith(("command line", "environment")):
            self.learned.clear()
            return config
        for knob in list(self.learned.values()):
            cc_map, _ = with_knob(config.cc_map, knob)
            try:
                config = dataclasses.replace(config, cc_map=cc_map)
            except ConfigError as err:
                del self.learned[knob.setting]
                log.warning("reload: the learnt knob %s is dropped: %s", knob.entry, err)
        return config

    def keep_learned_in(self, config: DaemonConfig) -> None:
        """Forget the learnt knobs that `config`'s map (set explicitly: `set cc_map`, OSC)
        no longer holds as they were learnt: the user's own map wins, and a reload must
        not bring back a knob they took off."""
        kept = set(config.knob_map())
        for setting, knob in list(self.learned.items()):
            if knob not in kept:
                del self.learned[setting]
                log.info("the learnt knob %s is forgotten: the map was set without it",
                         knob.entry)

    def _moved(self, cc: int, value: int) -> None:
        with self._moves_lock:
            queued = cc in self._moves
            self._moves[cc] = value
            if queued:
                return  # the thread will take this latest value when it gets there
            try:
                self._queue.put_nowait((MOVED, cc))
            except queue.Full:
                del self._moves[cc]  # its next move queues it again

    def start(self, host: KnobHost | None = None) -> None:
        """Carry out what comes from now on, through `host` (or the one given at
        construction)."""
        if host is not None:
            self._host = host
        if self._host is None:
            raise RuntimeError("the knobs need a host to carry out what they hear")
        self._thread.start()

    def stop(self) -> None:
        try:
            self._queue.put(STOP, timeout=1.0)
        except queue.Full:
            return
        self._thread.join(2.0)

    def learn(self, timeout: float, announce: str = "",
              client_gone: Callable[[], bool] | None = None,
              fixed_too: bool = False) -> int | None:
        """Wait up to `timeout` seconds for a controller to move on a knob channel; its
        number, or None. The move that is learnt sets nothing; a controller of fixed meaning
        (a volume fader, a pedal) is passed over unless `fixed_too`. A learn whose client
        went away (Ctrl-C on `antiphon learn`) ends there: no later knob is mapped behind
        the user's back. On a timeout, KnobError says what moved that was passed over."""
        daemon = self._steered()
        if not self._learn_lock.acquire(blocking=False):
            raise KnobError("already learning a knob: turn it, or wait for that to time out")
        learning = self._learning = _Learning(fixed_too)
        deadline = time.monotonic() + timeout
        daemon.take_every_cc(True)  # the knob to learn is on no map yet: the input hands it over
        try:
            if announce:
                log.info("%s", announce)
            while not learning.found.wait(min(LEARN_POLL_SECONDS, timeout)):
                if time.monotonic() >= deadline:
                    learning.say_passed_over(
                        lambda: sorted(self._knob_channels(daemon.config)))
                    return None
                if client_gone is not None and client_gone():
                    log.info("learn cancelled: its client went away; nothing learned")
                    raise KnobError("learn cancelled: its client went away")
            return learning.cc
        finally:
            daemon.take_every_cc(False)
            self._learning = None
            self._learn_lock.release()

    def _run(self) -> None:
        while (item := self._queue.get()) is not STOP:
            kind, what = item
            try:
                if kind == MOVED:
                    with self._moves_lock:
                        value = self._moves.pop(what)
                    self._turned(what, value)
                else:
                    self._carry_out(what)
            except Exception:  # a knob must never end the daemon: log it and go on
                log.exception("could not carry out a control message %r", what)

    def _turned(self, cc: int, value: int) -> None:
        learning = self._learning
        if learning is not None and cc < FIRST_MODE_CC:
            if cc in FIXED_MEANING_CCS and not learning.fixed_too:
                learning.fixed = cc  # a volume fader or a pedal moved: said at the timeout
                return
            learning.cc = cc
            learning.found.set()
            return
        config = self._steered().config
        for knob in config.knob_map():
            if knob.cc == cc:
                wanted = knob.value_at(value)
                if wanted != getattr(config, knob.setting):
                    self._ask({"command": "set", "key": knob.setting, "value": wanted})
                return

    def _carry_out(self, message: tuple[int, ...]) -> None:
        request = request_for(message, self._steered().config)
        if request is None:
            return
        if request["command"] == "end_phrase":  # the loop's own business
            self._steered().end_phrase()
            return
        self._ask(request)

    def _steered(self) -> DaemonControls:
        if self._host is None:
            raise RuntimeError("the knobs have no host yet (start(host) gives one)")
        return self._host.daemon

    def _ask(self, request: dict) -> None:
        assert self._host is not None  # the thread runs only once it has one (start)
        answer = self._host.handle(request)
        self.carried_out += 1
        if not answer["ok"]:
            log.warning("%s from the keyboard refused: %s", request["command"], answer["error"])


class _Learning:
    def __init__(self, fixed_too: bool) -> None:
        self.found = threading.Event()
        self.cc: int | None = None
        self.fixed_too = fixed_too
        self.fixed: int | None = None  # a controller of fixed meaning that moved
        self.elsewhere: tuple[int, int] | None = None  # (channel, CC) moved off the knobs'

    def say_passed_over(self, channels: Callable[[], list[int]]) -> None:
        """KnobError for a timeout after moves that were passed over, if there were any."""
        if self.fixed is not None:
            raise KnobError(f"CC {self.fixed} ({FIXED_MEANING_CCS[self.fixed]}, a meaning "
                            "MIDI fixes) moved and was passed over: nothing learned "
                            "(`antiphon learn SETTING --fixed-cc` takes it)")
        if self.elsewhere is not None:
            channel, cc = self.elsewhere
            raise KnobError(f"CC {cc} moved on channel {channel}, but the knobs listen on "
                            f"channel {', '.join(map(str, channels()))} (knob_channel): "
                            "nothing learned")
