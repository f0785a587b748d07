"""The interaction loop: the thread between the input queue, the model and the scheduler.

It takes the player's notes off the queue (put there by the input gate, on the input
port's reader thread), drives the call-and-response state machine, feeds the model what
the player played, and at a phrase end streams the model's answer into the output
scheduler, ahead of the clock. It reads and waits by a time source (time_source.py):
real time in the daemon, virtual time in tests.

Two timelines meet here, the clock's and the session's (session_timeline.py says how
they differ and why). The player's messages are heard as the notes they sound, one voice
per pitch across channels and the pedal (pedal.py); the DAW's transport, with a MIDI clock,
as transport.py says.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from antiphon.daemon.midi.wire import sustain_state
from antiphon.daemon.play.answering import (
    answer_rules,
    draw_answer,
    iter_events,
    shipped_critic,
)
from antiphon.daemon.play.clock import Clock, beats_to_ticks
from antiphon.daemon.play.draw_ahead import DrawAhead
from antiphon.daemon.play.interaction import (
    Action,
    AnswerEnded,
    CallAndResponse,
    Observe,
    StartAnswer,
    StopAnswer,
)
from antiphon.daemon.play.loop_parts import (
    AnswerSession,
    GenerationPace,
    LoopCall,
    LoopSettings,
    LoopStats,
    cuts_an_answer,
)
from antiphon.daemon.play.message_taps import MessageTaps
from antiphon.daemon.play.pedal import PlayedNotes
from antiphon.daemon.play.scheduler import OutputScheduler
from antiphon.daemon.play.session_timeline import SessionTimeline
from antiphon.daemon.play.time_source import TimeSource, time_of
from antiphon.daemon.play.transport import follow_transport
from antiphon.engine.events import (
    NoteEvent,
    note_event_to_bytes,
)

log = logging.getLogger(__name__)

SEND_MARGIN_SECONDS = 0.002  # an answer's first note must be scheduled this far ahead
STOP = None  # put on the input queue to end the loop
STOP_WAIT_SECONDS = 3.0  # how long stop() waits for the thread unless told otherwise
END_PHRASE = object()  # put on it to end the call being played (an end-of-call control)
MAX_CALL_EVENTS = 4096  # a call's notes kept for its key (a player who never stops: the start)


class InteractionLoop:
    """Runs the call-and-response on its own thread; see the module docstring."""

    def __init__(
        self,
        session: AnswerSession,
        scheduler: OutputScheduler,
        clock: Clock,
        settings: LoopSettings,
        inbox: queue.SimpleQueue,
        *,
        taps: MessageTaps | None = None,
        follows_transport: bool = True,
        time: TimeSource | None = None,
    ) -> None:
        self._session = session
        self._scheduler = scheduler
        self._clock = clock
        self._inbox = inbox
        self._time = time_of(clock) if time is None else time  # what it reads and waits by
        self._call: list[NoteEvent] = []  # what the player played since the last answer
        self._played = PlayedNotes()  # the player's notes as they sound
        self.transport_running = True  # False between a MIDI Stop and Start / Continue
        self._follows_transport = follows_transport  # whether a Stop also stops answering
        self.machine = CallAndResponse(settings.policy)
        self._settings = settings
        self._max_opening_rest_ticks: int | None = None
        self._timeline = SessionTimeline()
        self._stash: deque = deque()  # inbox items taken early (while an answer was sampled)
        self._thread: threading.Thread | None = None
        self.stats = LoopStats()
        self._ahead = DrawAhead(self._player_waiting, self._time.now)  # best of N, ahead
        self._pace = GenerationPace()
        self._pace.use(session)
        self.error: BaseException | None = None  # why the loop died, if it did
        self.answer_finished = threading.Event()  # set at each answer end (the demo waits)
        self._taps = taps  # each answer told (--timing-trace, the take)
        self.retune(settings)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("interaction loop already started")
        self._thread = self._time.thread(self._run, "antiphon-interaction")
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float | None = STOP_WAIT_SECONDS) -> bool:
        """Ask the loop to end after what it is doing and wait for its thread to end (up to
        `timeout` seconds: None, until it has; the default bounds a stop behind a slow
        model step); returns whether it has. Only the daemon's
        forced stop goes on without it; whatever is stopped here ends its thread, so the
        thread can never log or play after its owner has gone."""
        self._inbox.put(STOP)
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return thread is None
        if self._time.join(thread, timeout):
            return True
        log.warning("interaction loop did not stop within %.1f s", timeout)
        return False

    def call(self, function: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Run `function` on the loop's thread, between two events, and return its result
        (or raise its exception). Changes to what the loop plays go through here, so the
        loop never sees a half-made change and needs no lock. An answer being sampled is
        finished first. Without a running loop thread, runs it here."""
        if not self.is_alive():
            return function()
        call = LoopCall(function)
        self._inbox.put(call)
        return self._time.result(call.future, timeout)  # TimeoutError: the loop is stuck

    def silence(self) -> int:
        """Release what the answer sounds and drop the rest of it (a panic; call it through
        `call`, so an answer being sampled is finished first). Returns the notes released."""
        released = self._scheduler.cancel_and_release()
        if self.machine.drop_answer():
            log.info("answer dropped: listening for the player")
        return released

    def end_phrase(self) -> None:
        """End the call being played now (an end-of-call control; any thread)."""
        self._inbox.put(END_PHRASE)

    def play_alone(self, settings: LoopSettings) -> None:
        """The band's clock is gone (--clock auto): play by `settings` (the call's grid) and
        answer again whatever the band's transport said last (call it through `call`)."""
        self.retune(settings)
        self.transport_running = True

    def retune(self, settings: LoopSettings) -> None:
        """Play by new settings from the next answer on (call it through `call`)."""
        self._ahead.discard()  # drawn by the old settings
        self._settings = settings
        self.machine.retune(settings.policy)
        if settings.candidates > 1:
            shipped_critic()  # loaded now, not at the first answer
        rest = settings.max_opening_rest_beats
        self._max_opening_rest_ticks = None if rest is None else beats_to_ticks(rest)

    def swap_session(self, session: AnswerSession) -> AnswerSession:
        """Answer with `session` from the next answer on; returns the old one (call it
        through `call`). An answer already scheduled plays on (its notes are the
        scheduler's); the new session starts where the old one is on the timeline, having
        heard nothing yet."""
        self._ahead.discard()
        session.advance_to(max(self._session.tick, 0))
        self._pace.use(session)  # another model samples at its own speed
        old, self._session = self._session, session
        return old

    @property
    def session(self) -> AnswerSession:
        return self._session

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as err:  # logged with its traceback and reported by the daemon
            log.exception("interaction loop crashed")
            self.error = err
        finally:
            # Whatever happened, nothing Antiphon struck may go on sounding.
            self._scheduler.cancel_and_release()

    def _loop(self) -> None:
        clock = self._clock
        machine = self.machine
        while True:
            deadline = machine.next_deadline()
            if (not self._stash and deadline is not None
                    and not self._ahead.draw_for(self._session, machine.expected_answer(),
                                                 self._call, self._settings,
                                                 self._session_tick)):
                continue  # the player came in while it was drawn: that waits in the stash
            try:
                if self._stash:
                    item = self._stash.popleft()
                elif deadline is None:
                    item = self._time.get(self._inbox, None)
                else:
                    wait = clock.seconds_at(deadline) - self._time.now()
                    item = (self._time.get(self._inbox, wait) if wait > 0
                            else self._inbox.get_nowait())
            except queue.Empty:
                beats = clock.now_beats()
                if clock.seconds_at(deadline) <= self._time.now():
                    beats = max(beats, deadline)  # passed in seconds, so in beats (rounding)
                self._execute(machine.on_tick(beats))
                self._played.keep_only(machine.held())  # keys it let go of, held too long
                continue
            if item is STOP:
                return
            if isinstance(item, LoopCall):
                item.run()
                continue
            if item is END_PHRASE:
                self._execute(machine.end_phrase_now(clock.now_beats()))
                continue
            arrived, message = item
            events = self._played.hear(message, max(0, beats_to_ticks(clock.beats_at(arrived))))
            if events is None:
                self.transport_running = follow_transport(
                    message[0], self.transport_running, self._scheduler, machine,
                    self._ahead.discard)
                continue
            if self._settings.policy.phrase_end == "pedal" and sustain_state(message) is False:
                events = [*events, END_PHRASE]
            for event in events:  # the notes as they sound: a pedal holds released keys
                if event is END_PHRASE:
                    self._execute(machine.end_phrase_now(clock.now_beats()))
                else:
                    self._execute(machine.on_event(event, clock.now_beats()))

    # -- actions --------------------------------------------------------------------------
    def _execute(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Observe):
                self._observe(action)
            elif isinstance(action, StartAnswer):
                self.stats.phrases_heard += 1
                if self.transport_running or not self._follows_transport:
                    self._answer(action)
                else:
                    self.machine.drop_answer()  # the status says so: not responding
                    log.info("the DAW is stopped: not answering")
            elif isinstance(action, StopAnswer):
                released = self._scheduler.cancel_and_release()
                self._session.rewind(beats_to_ticks(action.at_beats)
                                     + self._timeline.offset_ticks)
                self.stats.barge_ins += 1
                log.info("barge-in at beat %.2f: answer dropped, %d notes released",
                         action.at_beats, released)
            elif isinstance(action, AnswerEnded):
                self.stats.answers_finished += 1
                self.answer_finished.set()
                log.debug("answer ended at beat %.2f", action.at_beats)

    def _session_tick(self, clock_tick: int) -> int:
        return self._timeline.session_tick(clock_tick, self._session.tick)

    def _observe(self, action: Observe) -> None:
        self._ahead.discard()  # the call goes on: what was drawn for its end is not heard
        event = action.event
        if action.opens_phrase and self._settings.policy.grid_from_call:
            self._timeline.anchor_beat_on(event.tick, self._session.tick)
        elif action.opens_phrase:
            self._timeline.keep_to_clock_beats()
        tick = self._session_tick(event.tick)
        self._session.observe([NoteEvent(tick, event.pitch, event.velocity)])
        if len(self._call) < MAX_CALL_EVENTS:
            self._call.append(event)

    def _answer(self, plan: StartAnswer) -> None:
        """Draw the answer (answering.py) and stream it into the scheduler as it comes."""
        clock = self._clock
        scheduler = self._scheduler
        start_tick = self._session_tick(beats_to_ticks(plan.start_beats))
        length_ticks = max(1, beats_to_ticks(plan.length_beats))
        push_beats = late_push = 0.0  # how far the answer moved; of that, for being late
        cut = False  # the player came in: sampling stopped short
        scheduled = 0
        opening_rest = float("nan")  # beats from the answer's start to its first note
        now_seconds = self._time.now
        began = now_seconds()
        settings = self._settings
        lead = self._pace.lead_seconds(plan.length_beats, clock.seconds_per_beat)
        call, self._call = self._call, []
        drawn = self._ahead.take(self._session, plan, call)
        if drawn is not None:
            start_tick = drawn.start_tick
            answer = iter_events(drawn.candidate.events)
            keeps = drawn.rules_chosen
            log.info("answer keeps to %s; best of %d, drawn in %.0f ms as the silence ran",
                     keeps, len(drawn.scores), drawn.seconds * 1e3)
        else:
            rules, keeps = answer_rules(call, settings.rules, settings.follow_call)
            log.info("answer keeps to %s", keeps)
            answer = draw_answer(self._session, call, settings.candidates, start_tick,
                                 length_ticks, settings.temperature,
                                 self._max_opening_rest_ticks, rules, settings.top_p)
        try:
            for event in answer:
                due = self._timeline.clock_beats(event.tick) + push_beats
                now = now_seconds()
                if scheduled == 0:
                    # Late for the planned start: play the whole answer from a later grid
                    # point rather than drop it or start it off the grid; a model slower
                    # than the tempo begins `lead` later still, so its last notes are in time.
                    # (A note leaves the output latency before its beat: it must be in
                    # the scheduler's hands by then.)
                    margin = SEND_MARGIN_SECONDS + scheduler.early_seconds
                    late_push = self._push_past(due, now + margin)
                    push_beats = late_push + self._push_past(due + late_push,
                                                             now + margin + lead)
                    due += push_beats
                    self.stats.headroom_seconds.append(clock.seconds_at(due) - now)
                    if self._taps is not None:
                        self._taps.answer(began, now, clock.seconds_at(due), keeps)
                    opening_rest = due - plan.start_beats - push_beats
                elif clock.seconds_at(due) < now:
                    self.stats.late_events += 1
                scheduler.schedule(due, note_event_to_bytes(event, settings.channel))
                scheduled += 1
                if self._player_waiting():
                    cut = True
                    break  # the player came in (or we are stopping): stop sampling
        finally:
            answer.close()  # stopped early: the session releases its notes in its state
        elapsed = now_seconds() - began
        self.stats.generation_seconds.append(elapsed)
        if not cut:
            self._pace.record(elapsed, plan.length_beats)
        if scheduled:
            self.stats.latency_seconds.append(
                clock.seconds_at(plan.start_beats + push_beats + opening_rest) - began)
        end_beats = plan.start_beats + push_beats + plan.length_beats
        # The session ends its answer with releases; this catches anything left sounding.
        scheduler.schedule_release_all(end_beats)
        if push_beats:
            self._timeline.moved(beats_to_ticks(push_beats))
            self.machine.answer_moved(plan.start_beats + push_beats, plan.length_beats)
        if late_push:
            self.stats.late_answers += 1
            self.stats.late_beats += late_push
            log.warning("answer generation was late: pushed %.2f beats to beat %.2f",
                        push_beats, plan.start_beats + push_beats)
        elif push_beats:
            log.info("the model samples slower than the tempo: its answer begins %.2f beats "
                     "later, to play in time", push_beats)
        headroom = self.stats.headroom_seconds[-1] * 1e3 if scheduled else float("nan")
        log.info(
            "answer: %d events over %g beats from beat %.2f (call %.2f beats), generated in "
            "%.1f ms; first note %.2f beats into it, due %.0f ms after it was scheduled",
            scheduled, plan.length_beats, plan.start_beats + push_beats, plan.call_beats,
            elapsed * 1e3, opening_rest, headroom,
        )

    def _push_past(self, due: float, moment: float) -> float:
        """The grid steps, in beats, that move `due` to `moment` or after it."""
        pushed = 0.0
        while self._clock.seconds_at(due + pushed) < moment:
            pushed += self._settings.policy.grid_beats
        return pushed

    def _player_waiting(self) -> bool:
        """Whether what waits in the inbox cuts the answer being sampled (cuts_an_answer):
        a knob turned, a key let go, a pedal caught again wait for it to be sampled."""
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return any(cuts_an_answer(item) for item in self._stash)
            self._stash.append(item)
