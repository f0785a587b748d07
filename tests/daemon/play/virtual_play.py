"""What the play room's tests need to run the loop and the scheduler in virtual time:
ports that stamp messages with virtual seconds, and a stand-in model whose steps take
virtual seconds."""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from contextlib import contextmanager

from daemon_fakes import FakeSession

from antiphon.daemon.midi.loopback import MessageRecorder
from antiphon.daemon.midi.ports import MessageCallback
from antiphon.daemon.play.clock import Clock
from antiphon.daemon.play.interaction_loop import InteractionLoop
from antiphon.daemon.play.loop_parts import LoopSettings
from antiphon.daemon.play.scheduler import OutputScheduler
from antiphon.daemon.play.time_source import VirtualTime

__all__ = ["PacedSession", "VirtualInput", "VirtualOutput", "VirtualTime", "running_loop"]


class VirtualInput:
    """A MIDI input (for the daemon) and the player's side of it (`send`): what is sent
    reaches the receiver at once, stamped with the virtual time, on the sender's thread."""

    def __init__(self, time: VirtualTime, name: str = "virtual in") -> None:
        self.name = name
        self._time = time
        self._receiver: MessageCallback | None = None

    def set_receiver(self, callback: MessageCallback | None) -> None:
        self._receiver = callback

    def send(self, message: Sequence[int]) -> None:
        receiver = self._receiver
        if receiver is not None:
            receiver(self._time.now(), list(message))

    def close(self) -> None:
        self._receiver = None


class VirtualOutput:
    """A MIDI output whose messages reach `receiver` stamped with the virtual time."""

    def __init__(self, time: VirtualTime, receiver: MessageCallback,
                 name: str = "virtual out") -> None:
        self.name = name
        self._time = time
        self._receiver = receiver
        self._lock = threading.Lock()
        self._closed = False

    def send(self, message: Sequence[int]) -> None:
        with self._lock:
            if self._closed:
                raise OSError(f"MIDI output {self.name!r} is closed")
            self._receiver(self._time.now(), list(message))

    def close(self) -> None:
        with self._lock:
            self._closed = True


class PacedSession(FakeSession):
    """FakeSession whose every note takes `step_delay_seconds` of virtual time to sample
    (a slow model), on the loop's thread: the scheduler plays on meanwhile."""

    def __init__(self, time: VirtualTime, step_delay_seconds: float = 0.0,
                 notes_per_beat: int = 2) -> None:
        super().__init__(notes_per_beat=notes_per_beat)
        self._time = time
        self.paced_seconds = step_delay_seconds

    def generate(self, *args, **kwargs):
        for event in super().generate(*args, **kwargs):
            if event.velocity and self.paced_seconds:
                self._time.sleep(self.paced_seconds)
            yield event


@contextmanager
def running_loop(time: VirtualTime, session, settings: LoopSettings, bpm: float):
    """An interaction loop and its scheduler running in `time`, its inbox for the test to
    put the player's (arrived, message) on as the input gate does; both threads are ended
    however the test ends. Yields (loop, clock, inbox)."""
    clock = Clock(bpm, time_source=time)
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    scheduler = OutputScheduler(VirtualOutput(time, MessageRecorder()), clock)
    loop = InteractionLoop(session, scheduler, clock, settings, inbox)
    try:
        scheduler.start()
        loop.start()
        yield loop, clock, inbox
    finally:
        loop.stop()
        scheduler.stop()
