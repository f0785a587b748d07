"""The daemon's own parts, built from the config in one place: the clock, the output
scheduler, the interaction loop and the input gate, each given its collaborators through
its constructor (nothing is set on a part after it is made).

`build_parts` is what `Daemon` is made of, whoever makes one: `antiphon run` (wiring.py,
over the MIDI edge's ports), the demo and the tests (over rtmidi or loopback ports). The
functions below it turn a config into each part's settings, at start and again when the
config changes live (`gate_settings`, `loop_settings`).
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass

from antiphon.daemon.config.daemon_config import BEATS_PER_BAR, DaemonConfig
from antiphon.daemon.control.knobs import taken_controls
from antiphon.daemon.midi.echo_guard import EchoGuard
from antiphon.daemon.midi.input_gate import GateSettings, InputGate
from antiphon.daemon.midi.ports import MidiOutput
from antiphon.daemon.play.clock import Clock
from antiphon.daemon.play.interaction import PhrasePolicy
from antiphon.daemon.play.interaction_loop import InteractionLoop
from antiphon.daemon.play.link_clock import LinkClock
from antiphon.daemon.play.loop_parts import AnswerSession, LoopSettings
from antiphon.daemon.play.message_taps import MessageTap, taps_of
from antiphon.daemon.play.midi_clock import MidiClockFollower
from antiphon.daemon.play.scheduler import OutputScheduler
from antiphon.daemon.play.timing_trace import TimingTrace


@dataclass(frozen=True)
class DaemonParts:
    """What a Daemon plays with (see the module docstring)."""

    clock: Clock
    trace: TimingTrace | None  # --timing-trace: every message in and out, timed
    scheduler: OutputScheduler
    loop: InteractionLoop
    gate: InputGate
    shares_clock: bool  # whether the beat is the band's at start (see shares_clock)


def make_clock(config: DaemonConfig) -> Clock:
    """The clock `config.clock_source` names: a Link session's (its bar is the bar), a
    MIDI clock follower (--clock midi or auto), or Antiphon's own."""
    if config.clock_source == "link":
        return LinkClock(config.bpm, quantum=BEATS_PER_BAR)
    if config.clock_source in ("midi", "auto"):
        return MidiClockFollower(config.bpm)
    return Clock(config.bpm)


def shares_clock(config: DaemonConfig) -> bool:
    """Whether the beat is the band's from the start. --clock auto plays on the call's grid
    until MIDI clock comes, then on the band's; with --clock-out the band follows
    Antiphon's own beat, so its grid is the band's too."""
    return config.clock_source in ("midi", "link") or config.clock_out is not None


def build_parts(config: DaemonConfig, session: AnswerSession, midi_out: MidiOutput,
                clock: Clock | None = None, *,
                controls: Callable[[list[int]], None] | None = None,
                feed: MessageTap | None = None) -> DaemonParts:
    """The parts of a daemon answering with `session` through `midi_out` on `clock` (None:
    the one the config names); `controls` takes the knobs, program changes and control
    keys the gate hands over (the service's Knobs; None: they are unused); `feed` is told
    what is received and sent besides the timing trace (the take's feed; None: nothing)."""
    clock = clock or make_clock(config)
    trace = TimingTrace() if config.timing_trace else None
    echo_guard = EchoGuard()  # the scheduler tells it each send; the gate asks it
    taps = taps_of(trace, feed)  # None: nothing told on the hot paths
    scheduler = OutputScheduler(midi_out, clock, taps=taps, echo_guard=echo_guard)
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    shared = shares_clock(config)
    loop = InteractionLoop(
        session, scheduler, clock, loop_settings(config, shared), inbox, taps=taps,
        # Following a DAW's clock, its Stop also stops the answering unless asked not to.
        follows_transport=not (isinstance(clock, MidiClockFollower)
                               and config.answer_when_stopped),
    )
    follower = clock if isinstance(clock, MidiClockFollower) else None
    settings = gate_settings(config, scheduler.pass_through)
    # Called on the input's reader thread (never the MIDI system's): filter, shed, queue.
    gate = InputGate(
        inbox, settings.channels, taps,
        thru=settings.thru, control_notes=settings.control_notes,
        control_ccs=settings.control_ccs, program_channels=settings.program_channels,
        echo_guard=echo_guard, controls=controls,
        clock_sink=follower.message if follower is not None else None,
        # With a clock port of its own (--clock-in) the note input's clock is another's.
        clock_on_input=follower is None or config.clock_in is None,
    )
    return DaemonParts(clock, trace, scheduler, loop, gate, shared)


def take_settings(config: DaemonConfig) -> dict:
    """What a take keeps of the settings an answer plays by (which model, how it samples,
    what it keeps to), so a take says who answered with what."""
    return {"model": config.model or "default", "temperature": config.temperature,
            "top_p": config.top_p, "scale": config.scale, "texture": config.texture,
            "candidates": config.candidates, "key_bias": config.key_bias}


def gate_settings(config: DaemonConfig,
                  pass_through: Callable[[list[int]], None]) -> GateSettings:
    """The input gate's part of the config: the channels listened to, MIDI thru (through
    `pass_through`, the scheduler's) or none, the control keys, and what the knobs take
    (the rest of the controllers is the player's, sent on by thru)."""
    ccs, program_channels = taken_controls(config)
    return GateSettings(config.listened_channels(), pass_through if config.thru else None,
                        control_notes(config), ccs, program_channels)


def control_notes(config: DaemonConfig) -> frozenset[int]:
    """The keys that are controls rather than notes (panic, end of call)."""
    return frozenset(note for note in (config.panic_note, config.end_note) if note is not None)


def loop_settings(config: DaemonConfig, shares_clock: bool) -> LoopSettings:
    """The interaction loop's part of the config; `shares_clock`: whether the beat is the
    band's (a MIDI clock or Link being followed) rather than Antiphon's own."""
    policy = PhrasePolicy(
        silence_beats=config.silence_beats,
        min_answer_beats=config.min_answer_beats,
        max_answer_beats=config.max_answer_beats,
        grid_beats=BEATS_PER_BAR if config.answer_on == "bar" else config.grid_beats,
        max_hold_beats=config.max_hold_beats,
        # A clock the band shares has the grid: answers land on the DAW's beats and bars.
        grid_from_call=not shares_clock,
        phrase_end=config.phrase_end,
        phrase_bars=config.phrase_bars,
        beats_per_bar=BEATS_PER_BAR,
    )
    return LoopSettings(policy, config.temperature, config.top_p, config.channel - 1,
                        config.max_opening_rest_beats, config.pitch_rules(),
                        config.follows_call, config.candidates)
