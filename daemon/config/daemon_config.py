"""The daemon's configuration: one dataclass, fed by defaults < TOML file < environment
(`ANTIPHON_*`) < command line, in that order of precedence.

Every field is one option of `antiphon run`: field `bpm` is `--bpm`, the TOML key `bpm` and
the variable `ANTIPHON_BPM`; `in_port` is `--in` (also `--in-port`), `in_port` and
`ANTIPHON_IN_PORT`. A bad value raises ConfigError naming the option and where it came from.
The layers are read by config_loading.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

from antiphon.daemon.config.numbers import (  # noqa: F401 (shown_number: for others)
    NUMBER_LIMITS,
    exact_number_problem,
    range_problem,
    shown_number,
)
from antiphon.daemon.midi.backends import BACKEND_NAMES
from antiphon.daemon.midi.input_gate import parse_channels
from antiphon.engine.constraints import MAX_CANDIDATES, TEXTURES, PitchRules, scale_pitch_classes
from antiphon.engine.events import TICKS_PER_BEAT

ENV_PREFIX = "ANTIPHON_"
ENV_ALIASES = {"in": "in_port", "out": "out_port"}  # ANTIPHON_IN, as the flag --in
OTHER_VARIABLES = frozenset({"ANTIPHON_CACHE"})  # read by the corpus import, not the daemon
DEVICE_NAMES = ("auto", "cpu", "cuda")
CLOCK_SOURCES = ("internal", "midi", "auto", "link")
ANSWER_ON = ("beat", "bar")
FIRST_MODE_CC = 120  # CC 120..127 are channel mode messages, not controllers
BEATS_PER_BAR = 4  # the bar of --answer-on bar, --phrase-bars and Link's quantum
PHRASE_ENDS = ("silence", "bars", "pedal", "control")
LOG_LEVELS = ("debug", "info", "warning", "error")
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
# What a running daemon can change without a restart (`antiphon set`, `reload`, OSC). The
# rest (ports, MIDI system, device, seed, ...) is read once, at start; `model` is swapped.
LIVE_OPTIONS = (
    "bpm", "temperature", "top_p", "silence_beats", "min_answer_beats", "max_answer_beats",
    "grid_beats", "max_opening_rest_beats", "scale", "lowest_pitch", "highest_pitch", "key_bias",
    "max_polyphony", "texture", "candidates", "channel", "listen_channels", "max_hold_beats",
    "thru", "program_models", "panic_cc", "panic_note", "phrase_end", "phrase_bars", "end_cc",
    "end_note", "log_level", "answer_on", "cc_map", "cc_feedback", "knob_channel",
)
CLI_FLAGS = {"in_port": "--in", "out_port": "--out"}  # fields whose flag is not --field-name


class ConfigError(ValueError):
    """A bad option value; the message names the option (`field`, when one is at fault)."""

    def __init__(self, field: str | None, problem: str) -> None:
        message = f"{describe_option(field)}: {problem}" if field else problem
        super().__init__(message)
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class DaemonConfig:
    # MIDI input to listen to: a port name or part of one. None: the first hardware input,
    # or else a virtual port "Antiphon In" that a keyboard or DAW can connect to.
    in_port: str | None = None
    # MIDI output to answer on: a port name or part of one. None: a virtual port
    # "Antiphon Out" for a DAW or synth to connect to.
    out_port: str | None = None
    # MIDI system: auto, alsa, jack, coremidi or winmm. auto: the platform's own; on Linux
    # without an ALSA sequencer (/dev/snd/seq) but with a JACK server running, JACK.
    backend: str = "auto"
    # The model: a path to an .onnx file, or a model's name: one of yours (in the user model
    # folder, where `antiphon export --name NAME` writes), else a shipped one. None: the
    # shipped default.
    model: str | None = None
    # Where onnxruntime runs the model: auto (a CUDA GPU when usable, else CPU), cpu, cuda.
    device: str = "auto"
    # Tempo of the internal clock, in beats per minute.
    bpm: float = 120.0
    # Where the beat comes from: internal; midi (MIDI clock on the input or clock_in, as a
    # DAW or drum machine sends it: tempo, beat and bar, Start / Stop / Continue; bpm holds
    # until the pulses come, and their last tempo is kept when they stop); auto (internal
    # until MIDI clock arrives, then the clock's); or link (an Ableton Link session: tempo
    # and bar shared with its peers over the network, the one traffic Antiphon makes).
    clock: str = "internal"
    # A port that brings the MIDI clock when it does not come with the notes (name or part
    # of one); with clock internal, naming one follows it as auto does. None: the clock
    # comes on the input.
    clock_in: str | None = None
    # A port to send MIDI clock to (24 pulses a beat, Start and Stop), so a drum machine or
    # a DAW follows Antiphon's tempo. None: no clock out.
    clock_out: str | None = None
    # Where answers may start: beat (on the grid_beats grid) or bar (on a downbeat: with a
    # MIDI clock or Link, the band's; with the internal clock, counted from the call).
    answer_on: str = "beat"
    # With clock midi: answer while the DAW is stopped too (by default a Stop silences the
    # answer and Antiphon waits for Start or Continue).
    answer_when_stopped: bool = False
    # Silence (in beats) after the player's last release that ends the call.
    silence_beats: float = 1.0
    # Answers last about as many beats as the call, but at least this many...
    min_answer_beats: float = 2.0
    # ...and at most this many.
    max_answer_beats: float = 16.0
    # Answers start on a multiple of this many beats (1: on the beat, 4: on the bar in 4/4).
    # A whole number of clock ticks (1/24 beat).
    grid_beats: float = 1.0
    # Sampling temperature: below 1 plays safer, above 1 wilder.
    temperature: float = 1.0
    # Sample only among the likeliest next events holding this share of the probability
    # (nucleus sampling): 0.9 trims the unlikely tail, 1 keeps everything.
    top_p: float = 1.0
    # Longest rest, in beats, before an answer's first note: the player is waiting.
    max_opening_rest_beats: float = 0.5
    # Keep answers in a scale: "<tonic> <mode>" like "D dorian" or "Bb major". "auto": the
    # call's key (kept to when certain, leaned toward otherwise: key_bias), and a range an
    # octave around the call's notes.
    # "chromatic" (or none): any pitch.
    scale: str | None = "auto"
    # With scale "auto", how strongly an answer leans toward its call's likely keys when
    # the key is not certain enough to keep to (a bias on the model's logits, nothing
    # masked: a pitch class outside every likely key's scale is about e^-key_bias times
    # as likely as the model would have it). 0: no lean.
    key_bias: float = 3.0
    # Answers strike no pitch below this MIDI note number...
    lowest_pitch: int = 0
    # ...and none above this one.
    highest_pitch: int = 127
    # Most answer notes sounding at once. None: as many as the model likes.
    max_polyphony: int | None = None
    # Whose texture the answer follows: auto (the call's: a single line is answered in one
    # voice, chords with at most as many notes at once as the call sounded), melody (one
    # voice) or chords (as many as the model likes, up to max_polyphony).
    texture: str = "auto"
    # Answers drawn per call, of which the best is played: scored by the critic and by how
    # near each is to the call's pitch classes, density and register (best of N). 1: the
    # first one drawn, streamed as it is sampled.
    candidates: int = 8
    # MIDI channel of the answer, 1..16.
    channel: int = 1
    # Random seed for sampling; None: a different answer every run.
    seed: int | None = None
    # MIDI channels (1..16) the daemon listens to, as "1-9,11-16" or "all". The default
    # leaves out 10, the drum channel: a drum machine's notes are no call to answer.
    listen_channels: str = "1-9,11-16"
    # What ends a call: silence (silence_beats after the last release), bars (phrase_bars
    # bars from the bar it began in, on the clock's grid), pedal (the sustain pedal lifted)
    # or control (end_cc or end_note). Whatever ends it, max_hold_beats of nothing does too.
    phrase_end: str = "silence"
    # With phrase_end bars: how many bars (of 4 beats) a call lasts.
    phrase_bars: int = 2
    # With phrase_end control: a controller whose move to 64 or more ends the call...
    end_cc: int | None = None
    # ...or a key (MIDI note) that ends it instead of playing.
    end_note: int | None = None
    # A key held longer than this many beats no longer holds the call open (a note-off
    # that never comes, a stuck key): the phrase ends and the daemon answers.
    max_hold_beats: float = 8.0
    # Seconds the MIDI system may be gone (a JACK server restarting) before the daemon
    # gives up and exits non-zero, so a service manager restarts it.
    reconnect_timeout: float = 30.0
    # Silence the output when it opens (note-off for every note, all-notes-off, all-sound-
    # off on all 16 channels): what a crashed run left sounding stops.
    panic_on_start: bool = True
    # MIDI thru: the player's notes (and sustain pedal) go on to the output as they come,
    # so one synth plays both the call and the answer.
    thru: bool = False
    # Models a program change selects, comma-separated: program 1 (0 on the wire) the
    # first, and so on, swapped as `antiphon model` swaps them (heard on the knob channel,
    # as the knobs are). None: programs are ignored.
    program_models: str | None = None
    # A controller number whose move past the middle (value 64 or more) is a panic: the
    # answer is dropped, every note released. None: no such knob.
    panic_cc: int | None = None
    # A note (MIDI number) that is a panic button instead of a note. None: no such key.
    panic_note: int | None = None
    # Knobs and faders that set live options: comma-separated SETTING=CC:RANGE entries, a
    # range LOW..HIGH (CC 0..127 mapped linearly onto it) or choices A|B|C (0..127 shared
    # among them), e.g. "temperature=21:0.5..1.5, scale=23:C major|D dorian|chromatic".
    # `antiphon learn SETTING` adds one by turning the knob. None: no knobs.
    cc_map: str | None = None
    # Send a mapped setting's value back as its CC (on the knob's channel) whenever it
    # changes, from anywhere, so a controller's LED rings or motor faders follow.
    cc_feedback: bool = False
    # The MIDI channel the knobs of cc_map, program changes (program_models) and `antiphon
    # learn` listen on: one channel 1..16, several ("1-4"), or "all" (every channel
    # listened to). None: the lowest channel listen_channels takes (1 by default), so a CC 1
    # on another channel, another instrument's mod wheel, moves nothing.
    knob_channel: str | None = None
    # Logging detail: debug, info, warning, error.
    log_level: str = "info"
    # Write every message sent (when it was due, when it left) to this file at exit, as
    # JSON lines: for timing analysis (`antiphon bench loop` reads it). None: no record.
    timing_trace: str | None = None
    # The control socket (`antiphon status`, `set`, `model`, `panic`, `reload` talk to it).
    # None: control.sock in the user's runtime folder ($XDG_RUNTIME_DIR/antiphon).
    control_socket: str | None = None
    # Listen for Open Sound Control messages on this UDP port (the same settings as the
    # control socket, and state messages out). None: no OSC, no network socket at all.
    osc_port: int | None = None
    # The address OSC listens on: 127.0.0.1 keeps it on this machine; 0.0.0.0 opens it to
    # the network (a tablet running TouchOSC).
    osc_host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        _choice("backend", self.backend, BACKEND_NAMES)
        _choice("device", self.device, DEVICE_NAMES)
        _choice("clock", self.clock, CLOCK_SOURCES)
        _choice("answer_on", self.answer_on, ANSWER_ON)
        if self.clock_in is not None and self.clock == "link":
            raise ConfigError("clock_in", f"takes MIDI clock; {cli_flag('clock')} link "
                              "takes the beat from a Link session")
        if self.clock_out is not None and self.clock_source in ("midi", "auto"):
            # Clock goes out only from a master (the internal clock, or Link's tempo and
            # bar). Relaying a followed clock would hand on the DAW's pulses late and
            # smoothed, with a Start / Stop of Antiphon's rather than the DAW's: the DAW's
            # own clock, connected to the device, is the better one.
            following = (f"{cli_flag('clock')} {self.clock}" if self.clock != "internal"
                         else cli_flag("clock_in"))
            raise ConfigError("clock_out", f"sends Antiphon's own clock, and with "
                              f"{following} it follows another: connect that clock to the "
                              "device directly")
        _choice("log_level", self.log_level, LOG_LEVELS)
        _choice("texture", self.texture, TEXTURES)
        _in_limits("bpm", self.bpm)
        _in_limits("silence_beats", self.silence_beats)
        _in_limits("min_answer_beats", self.min_answer_beats)
        _in_limits("max_answer_beats", self.max_answer_beats)
        _in_limits("grid_beats", self.grid_beats)
        _in_limits("temperature", self.temperature)
        _in_limits("top_p", self.top_p)
        _in_limits("max_opening_rest_beats", self.max_opening_rest_beats)
        _in_limits("key_bias", self.key_bias)
        _in_range("lowest_pitch", self.lowest_pitch, 0, 127)
        _in_range("highest_pitch", self.highest_pitch, 0, 127)
        if self.max_polyphony is not None:
            _in_range("max_polyphony", self.max_polyphony, 1, 128)
        _in_range("candidates", self.candidates, 1, MAX_CANDIDATES)
        if self.highest_pitch < self.lowest_pitch:  # the range's fault, whatever the scale
            raise ConfigError("highest_pitch", f"must be >= {cli_flag('lowest_pitch')} "
                              f"({self.lowest_pitch}), got {self.highest_pitch}")
        try:
            self.pitch_rules()
        except ValueError as err:
            at_fault = "scale" if self.scale and not self.follows_call else "highest_pitch"
            raise ConfigError(at_fault, str(err)) from err
        _in_range("channel", self.channel, 1, 16)
        if self.seed is not None:
            _in_range("seed", self.seed, 0, 2**63 - 1)
        if self.max_answer_beats < self.min_answer_beats:
            raise ConfigError(
                "max_answer_beats",
                f"must be >= {cli_flag('min_answer_beats')} "
                f"({shown_number(self.min_answer_beats)}), got "
                f"{shown_number(self.max_answer_beats)}",
            )
        ticks = self.grid_beats * TICKS_PER_BEAT
        if abs(ticks - round(ticks)) > 1e-6:
            raise ConfigError(
                "grid_beats",
                f"must be a whole number of 1/{TICKS_PER_BEAT} beats, got "
                f"{shown_number(self.grid_beats)}",
            )
        for name in ("panic_cc", "panic_note", "end_cc", "end_note"):
            if getattr(self, name) is not None:
                _in_range(name, getattr(self, name), 0, 127)
                if name.endswith("_cc") and getattr(self, name) == 64:
                    raise ConfigError(name, "64 is the sustain pedal")
                if name.endswith("_cc") and getattr(self, name) >= FIRST_MODE_CC:
                    # The input takes these for itself (all notes off, a reset...): a
                    # control there would never fire.
                    raise ConfigError(name, f"{getattr(self, name)} is a channel mode message "
                                      f"({FIRST_MODE_CC}..127: all notes off, reset ...), "
                                      "which the input takes for itself")
        _choice("phrase_end", self.phrase_end, PHRASE_ENDS)
        _in_range("phrase_bars", self.phrase_bars, 1, 64)
        if self.phrase_end == "control" and self.end_cc is None and self.end_note is None:
            raise ConfigError("phrase_end", "control needs an end_cc or an end_note")
        if self.program_models is not None and not self.program_list():
            raise ConfigError("program_models", "name at least one model, e.g. 'default, "
                              "transformer'")
        if self.cc_map is not None:
            self.knob_map()
        if self.osc_port is not None:
            _in_range("osc_port", self.osc_port, 1, 65535)
        for name in ("in_port", "out_port", "model", "timing_trace", "control_socket",
                     "osc_host", "clock_in", "clock_out"):
            value = getattr(self, name)
            if value is not None and not value.strip():
                raise ConfigError(name, "must not be empty (leave it out for the default)")
        if self.timing_trace is not None:
            # Checked now, not at exit: by then the record would be lost.
            folder = Path(self.timing_trace).expanduser().resolve().parent
            if not folder.is_dir():
                raise ConfigError("timing_trace", f"folder {str(folder)!r} does not exist")
            path = Path(self.timing_trace).expanduser()
            if path.is_dir() or not os.access(path if path.exists() else folder, os.W_OK):
                raise ConfigError("timing_trace", f"{str(path)!r} cannot be written")
        try:
            self.listened_channels()
        except ValueError as err:
            raise ConfigError("listen_channels", str(err)) from err
        self.knob_channels()
        _in_limits("max_hold_beats", self.max_hold_beats)
        _in_limits("reconnect_timeout", self.reconnect_timeout)

    def listened_channels(self) -> frozenset[int]:
        """The 1-based channels of `listen_channels`; ValueError for a malformed list."""
        return parse_channels(self.listen_channels)

    def knob_channels(self) -> frozenset[int]:
        """The 1-based channels the knobs listen on (`knob_channel`); ConfigError naming
        knob_channel for a malformed list or a channel that is not listened to."""
        listened = self.listened_channels()
        if self.knob_channel is None:
            return frozenset({min(listened)}) if listened else frozenset()
        if self.knob_channel.strip().casefold() == "all":
            return listened
        try:
            channels = parse_channels(self.knob_channel)
        except ValueError as err:
            raise ConfigError("knob_channel", str(err)) from err
        deaf = sorted(channels - listened)
        if deaf:
            raise ConfigError("knob_channel", f"channel {deaf[0]} is not listened to "
                              f"(listen_channels {self.listen_channels}): knobs there would "
                              "never be heard")
        return channels

    def pitch_rules(self) -> PitchRules:
        """The engine's rules for answers, from the scale, range and polyphony options (with
        scale "auto", before each answer narrows them to its call: `follows_call`)."""
        fixed = self.scale and not self.follows_call
        classes = scale_pitch_classes(self.scale) if fixed else frozenset(range(12))
        return PitchRules(self.lowest_pitch, self.highest_pitch, classes, self.max_polyphony,
                          self.key_bias, texture=self.texture)

    def knob_map(self) -> tuple:
        """The knobs of `cc_map` (cc_map.Knob), checked; ConfigError naming cc_map."""
        from antiphon.daemon.config.cc_map import check_cc_map  # it builds on this module

        return check_cc_map(self)

    def program_list(self) -> list[str]:
        """The models of `program_models`, by program (0-based)."""
        return [name.strip() for name in (self.program_models or "").split(",") if name.strip()]

    @property
    def follows_call(self) -> bool:
        """Whether each answer keeps to its call's key and range (scale "auto")."""
        return (self.scale or "").strip().casefold() == "auto"

    @property
    def clock_source(self) -> str:
        """The clock the daemon runs: `clock`, except that a clock_in port named with the
        internal clock is followed as `auto` follows the input's."""
        return "auto" if self.clock == "internal" and self.clock_in else self.clock

    @property
    def silence_seconds(self) -> float:
        return self.silence_beats * 60.0 / self.bpm


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(name, f"must be one of {', '.join(allowed)}, got {value!r}")


def _in_limits(name: str, value: float) -> None:
    _in_range(name, value, *NUMBER_LIMITS[name])


def _in_range(name: str, value: float, low: float, high: float, low_open: bool = False) -> None:
    if not (low < value <= high if low_open else low <= value <= high):  # NaN fails too
        raise ConfigError(name, range_problem(low, high, low_open, shown_number(value)))


def cli_flag(field_name: str) -> str:
    return CLI_FLAGS.get(field_name, "--" + field_name.replace("_", "-"))


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def describe_option(field_name: str) -> str:
    return f"{cli_flag(field_name)} ({field_name} in TOML, {env_name(field_name)})"


def field_names() -> list[str]:
    return [field.name for field in fields(DaemonConfig)]
