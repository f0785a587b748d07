"""The checks of the options, one by one and against each other, and what the daemon reads
from them (the channels listened to, the pitch rules, the clock it runs).

CheckedConfig is the table (ConfigFields) with every check but the CC map's: a knob's
value is checked here, as the option's own (cc_map.py builds on this class), and
DaemonConfig (daemon_config.py) adds the CC map's check where `_check_knobs` stands in the
order below. A bad value raises ConfigError naming the option.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from antiphon.daemon.config.config_fields import (
    ANSWER_ON,
    CLOCK_SOURCES,
    DEVICE_NAMES,
    LOG_LEVELS,
    PHRASE_ENDS,
    ConfigFields,
)
from antiphon.daemon.config.numbers import NUMBER_LIMITS, range_problem, shown_number
from antiphon.daemon.config.option_names import ConfigError, cli_flag
from antiphon.daemon.midi.backends import BACKEND_NAMES
from antiphon.daemon.midi.input_gate import parse_channels
from antiphon.engine.constraints import MAX_CANDIDATES, TEXTURES, PitchRules, scale_pitch_classes
from antiphon.engine.events import TICKS_PER_BEAT

FIRST_MODE_CC = 120  # CC 120..127 are channel mode messages, not controllers
# Options that name a port, a model or a file: text, but never blank.
NAMING_OPTIONS = ("in_port", "out_port", "model", "timing_trace", "control_socket",
                  "osc_host", "clock_in", "clock_out", "record_folder")


@dataclass(frozen=True)
class CheckedConfig(ConfigFields):
    """The options, checked (all but the CC map: DaemonConfig checks that too)."""

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
        for name in ("bpm", "silence_beats", "min_answer_beats", "max_answer_beats",
                     "grid_beats", "temperature", "top_p", "max_opening_rest_beats",
                     "key_bias"):
            _in_limits(name, getattr(self, name))
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
        self._check_controls()
        if self.program_models is not None and not self.program_list():
            raise ConfigError("program_models", "name at least one model, e.g. 'default, "
                              "transformer'")
        self._check_knobs()
        if self.osc_port is not None:
            _in_range("osc_port", self.osc_port, 1, 65535)
        _in_range("web_port", self.web_port, 1, 65535)
        _in_range("record_keep_mb", self.record_keep_mb, 0, 1e9, low_open=True)
        _in_range("record_keep_days", self.record_keep_days, 0, 1e6, low_open=True)
        for name in NAMING_OPTIONS:
            value = getattr(self, name)
            if value is not None and not value.strip():
                raise ConfigError(name, "must not be empty (leave it out for the default)")
            if value is not None and "\x00" in value:  # no port, file or host holds one
                raise ConfigError(name, "must not hold a NUL character")
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
        if self.output_latency_ms is not None:
            _in_limits("output_latency_ms", self.output_latency_ms)

    def _check_controls(self) -> None:
        """The panic and end-of-call knobs and keys, and what ends a call."""
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

    def _check_knobs(self) -> None:
        """Where DaemonConfig checks the CC map (cc_map.py, which builds on this class)."""

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
        """The silence that ends a call (silence_beats), in seconds at `bpm`."""
        return self.silence_beats * 60.0 / self.bpm


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    """ConfigError naming `name` unless `value` is one of `allowed`."""
    if value not in allowed:
        raise ConfigError(name, f"must be one of {', '.join(allowed)}, got {value!r}")


def _in_limits(name: str, value: float) -> None:
    """ConfigError naming number option `name` unless `value` is within its limits
    (NUMBER_LIMITS)."""
    _in_range(name, value, *NUMBER_LIMITS[name])


def _in_range(name: str, value: float, low: float, high: float, low_open: bool = False) -> None:
    """ConfigError naming `name` unless low <= value <= high (low < value: `low_open`)."""
    if not (low < value <= high if low_open else low <= value <= high):  # NaN fails too
        raise ConfigError(name, range_problem(low, high, low_open, shown_number(value)))
