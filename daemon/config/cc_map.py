"""The CC map: knobs and faders of a MIDI controller set live options (`cc_map`).

The map is one line of text, so it reads the same in TOML, in `ANTIPHON_CC_MAP` and after
`--cc-map`: comma-separated entries `SETTING=CC:SPEC`, where SPEC is either a range
`LOW..HIGH` (the knob's 0..127 maps linearly onto it; whole-number settings are rounded,
grid_beats to whole clock ticks; LOW above HIGH runs the knob backwards) or choices
`A|B|C` (0..127 divided evenly among them, in order). Without `:SPEC` a setting takes its
usual knob (DEFAULT_SPECS):

    temperature=21:0.5..1.5, top_p=22:0.5..1, scale=23:C major|D dorian|chromatic, thru=24

Each end of a range and each choice is checked by the setting's own check (CheckedConfig),
so a knob can reach only values `antiphon set` would take. A controller whose meaning MIDI
fixes (FIXED_MEANING_CCS: volume, pan, bank select, the pedals, ...) takes a knob only when
its entry insists, `CC!` (`top_p=11!:0.5..1`). A knob's move becomes the same
`set` request the control socket takes (knobs.py); with `cc_feedback` the daemon sends a
mapped setting's value back as its CC when it changes, on the knob's channel, so LED rings
follow (never on a controller of fixed meaning: the synth would act on it).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import typing
from typing import Any

from antiphon.daemon.config.config_checks import FIRST_MODE_CC, CheckedConfig
from antiphon.daemon.config.option_names import LIVE_OPTIONS, ConfigError
from antiphon.daemon.config.values import coerce_value, field_types
from antiphon.daemon.midi.wire import CONTROL_CHANGE, SUSTAIN_PEDAL
from antiphon.engine.events import TICKS_PER_BEAT

CC_VALUES = 128  # a controller sends 0..127
# Controllers whose meaning MIDI 1.0 fixes. A synth on the output acts on them (with
# cc_feedback a knob's value goes out as its CC: top_p 0.5 on CC 7 would set the synth's
# volume to 0) and keyboards send them from their own wheels, pedals and faders. A knob on
# one is refused unless its entry insists with "!" after the number (`top_p=7!:0.5..1`).
# The sustain pedal and the channel mode messages are refused even then: the input takes
# them for itself (pedal, all notes off), so no knob there could ever move.
FIXED_MEANING_CCS = {
    0: "bank select", 6: "data entry", 7: "channel volume", 10: "pan", 11: "expression",
    32: "bank select (LSB)", 38: "data entry (LSB)", 65: "portamento on/off",
    66: "the sostenuto pedal", 67: "the soft pedal", 68: "the legato footswitch",
    69: "hold 2", 96: "data increment", 97: "data decrement", 98: "NRPN select (LSB)",
    99: "NRPN select (MSB)", 100: "RPN select (LSB)", 101: "RPN select (MSB)",
}
INSIST = "!"  # after a CC number: map it although its meaning is fixed
# Live options that are no knob: lists, controls of their own, the map itself.
NOT_ON_KNOBS = frozenset({"program_models", "panic_cc", "panic_note", "end_cc", "end_note",
                          "log_level", "listen_channels", "cc_map", "cc_feedback",
                          "knob_channel"})
# The knob a setting gets when its entry (or `antiphon learn`) names no range or choices.
DEFAULT_SPECS = {
    "bpm": "60..180", "temperature": "0.5..1.5", "top_p": "0.5..1", "silence_beats": "0.5..4",
    "min_answer_beats": "1..8", "max_answer_beats": "2..32", "grid_beats": "0.25|0.5|1|2|4",
    "max_opening_rest_beats": "0..2", "lowest_pitch": "0..127", "highest_pitch": "0..127",
    "key_bias": "0..4", "texture": "auto|melody|chords",
    "max_polyphony": "1..8", "channel": "1..16", "max_hold_beats": "2..32", "thru": "off|on",
    "phrase_end": "silence|bars|pedal", "phrase_bars": "1..8", "answer_on": "beat|bar",
}
# Settings whose values move in steps: whole numbers, or grid_beats' clock ticks.
STEPS = {"grid_beats": 1 / TICKS_PER_BEAT}
# Partners that let one end of a range be checked alone (min_answer_beats up to 64 is the
# setting's own range even while max_answer_beats is 16; the knob is refused only by the
# `set` that would cross them).
RELAXED_PARTNERS: dict[str, dict[str, Any]] = {
    "min_answer_beats": {"max_answer_beats": 64.0},
    "max_answer_beats": {"min_answer_beats": 1 / TICKS_PER_BEAT},
    "phrase_end": {"end_note": 0},
}
FLOAT_DIGITS = 4  # a knob's float values, rounded so `status` reads 0.8504, not 0.85039...

def knob_settings() -> list[str]:
    """The live options a knob may set."""
    return [name for name in LIVE_OPTIONS if name not in NOT_ON_KNOBS]


def _value_type(setting: str) -> type:
    hint = field_types()[setting]
    members = [kind for kind in typing.get_args(hint) if kind is not type(None)]
    return members[0] if members else hint


@dataclasses.dataclass(frozen=True)
class Knob:
    """One entry of the map: controller `cc` sets `setting` over a range or among choices."""

    setting: str
    cc: int
    spec: str  # the range or the choices, as written (normalized spacing)
    low: float | None = None  # a range's value at CC 0 ...
    high: float | None = None  # ... and at CC 127
    choices: tuple = ()  # or the values CC 0..127 steps through, in order
    insisted: bool = False  # written CC! : on a controller of fixed meaning, on purpose

    @property
    def entry(self) -> str:
        return f"{self.setting}={self.cc}{INSIST if self.insisted else ''}:{self.spec}"

    def value_at(self, cc_value: int) -> Any:
        """The setting's value for a CC value 0..127."""
        cc_value = min(max(int(cc_value), 0), CC_VALUES - 1)
        if self.choices:
            return self.choices[cc_value * len(self.choices) // CC_VALUES]
        low, high = self.low, self.high
        value = low + (high - low) * cc_value / (CC_VALUES - 1)
        step = 1 if _value_type(self.setting) is int else STEPS.get(self.setting)
        if step is not None:
            value = round(value / step) * step
        else:
            value = round(value, FLOAT_DIGITS)
        value = min(max(value, min(low, high)), max(low, high))  # rounding stays inside
        return int(value) if _value_type(self.setting) is int else float(value)

    def cc_value_of(self, value: Any) -> int | None:
        """The CC value that stands for `value` (what a LED ring should show), or None when
        the knob cannot reach it (a value set outside its range or choices)."""
        if self.choices:
            for index, choice in enumerate(self.choices):
                if _same(choice, value):
                    return _choice_position(index, len(self.choices))
            return None
        if value is None or isinstance(value, bool):
            return None
        share = (value - self.low) / (self.high - self.low)
        return min(max(round(share * (CC_VALUES - 1)), 0), CC_VALUES - 1)


def _same(choice: Any, value: Any) -> bool:
    if isinstance(choice, str) and isinstance(value, str):
        return " ".join(choice.split()).casefold() == " ".join(value.split()).casefold()
    if isinstance(choice, float) and isinstance(value, int | float):
        return math.isclose(choice, value, abs_tol=1e-9)
    return choice == value


def _choice_position(index: int, count: int) -> int:
    """A CC value inside choice `index`'s share of 0..127: the ends for the first and last
    (a button's 0 and 127), the middle of the share for the others."""
    if index == 0:
        return 0
    if index == count - 1:
        return CC_VALUES - 1
    first = -(-index * CC_VALUES // count)  # the share is first..next-1
    following = -(-(index + 1) * CC_VALUES // count)
    return (first + following - 1) // 2


@functools.lru_cache(maxsize=64)
def parse_cc_map(text: str) -> tuple[Knob, ...]:
    """The knobs of a map's text; ConfigError naming cc_map, with the reason, when it is
    malformed. (Cached: every `set` checks the whole config, the map with it.)"""
    if not text.strip():
        raise ConfigError("cc_map", "must not be empty (leave it out for no knobs)")
    knobs = [parse_entry(part) for part in text.split(",")]
    for index, knob in enumerate(knobs):
        for earlier in knobs[:index]:
            if earlier.cc == knob.cc:
                raise ConfigError("cc_map", f"CC {knob.cc} is mapped twice ({earlier.setting} "
                                  f"and {knob.setting})")
            if earlier.setting == knob.setting:
                raise ConfigError("cc_map", f"{knob.setting} is mapped twice (CC {earlier.cc} "
                                  f"and CC {knob.cc})")
    return tuple(knobs)


def parse_entry(entry: str) -> Knob:
    """One `SETTING=CC[:SPEC]` entry."""
    shown = entry.strip()
    name, equals, rest = shown.partition("=")
    if not equals:
        raise ConfigError("cc_map", f"{shown!r} is not SETTING=CC:RANGE (e.g. "
                          "'temperature=21:0.5..1.5' or 'scale=23:C major|D dorian')")
    number, _, spec = rest.partition(":")
    digits = number.strip()
    insisted = digits.endswith(INSIST)
    digits = digits.removesuffix(INSIST).rstrip()
    if not (digits.isascii() and digits.isdigit()):  # int() would take "2_1", "-0", "２１"
        raise ConfigError("cc_map", f"{shown!r}: the CC must be a number 0..127, got "
                          f"{digits!r}")
    return make_knob(name, int(digits), spec, shown, insisted)


def make_knob(name: str, cc: int, spec: str, shown: str, insisted: bool = False) -> Knob:
    """A knob for setting `name` on controller `cc` over `spec` (a range, choices, or ""
    for the setting's usual knob); ConfigError naming cc_map, quoting `shown`. `insisted`:
    the user asked for `cc` although its meaning is fixed (FIXED_MEANING_CCS)."""
    setting = knob_setting(name.strip().replace("-", "_").lower())
    _check_cc(cc, shown, insisted)
    insisted = insisted and cc in FIXED_MEANING_CCS  # "!" on a free CC changes nothing
    spec = spec.strip() or DEFAULT_SPECS.get(setting, "")
    if not spec:
        raise ConfigError("cc_map", f"{shown!r}: {setting} needs its choices, e.g. "
                          f"'{setting}=23:C major|D dorian|chromatic'")
    if "|" in spec:
        texts = [" ".join(choice.split()) for choice in spec.split("|")]
        choices = tuple(_checked_value(setting, choice, shown) for choice in texts)
        if len(choices) > CC_VALUES:
            raise ConfigError("cc_map", f"{shown!r}: at most {CC_VALUES} choices on a knob")
        return Knob(setting, cc, "|".join(texts), choices=choices, insisted=insisted)
    low_text, dots, high_text = spec.partition("..")
    if not dots or "..." in spec or ".." in high_text:  # "0.5...2" is no 0.5..0.2
        raise ConfigError("cc_map", f"{shown!r}: {spec!r} is neither a range LOW..HIGH nor "
                          "choices A|B (two or more)")
    if _value_type(setting) not in (int, float):
        raise ConfigError("cc_map", f"{shown!r}: {setting} takes choices (A|B|...), not a "
                          "range")
    low = _checked_value(setting, low_text.strip(), shown)
    high = _checked_value(setting, high_text.strip(), shown)
    if low is None or high is None:
        raise ConfigError("cc_map", f"{shown!r}: a range runs between numbers; for "
                          f"{setting}'s 'none' use choices, e.g. '{setting}=CC:none|4|8'")
    if low == high:
        raise ConfigError("cc_map", f"{shown!r}: the range's ends are the same value")
    return Knob(setting, cc, f"{low_text.strip()}..{high_text.strip()}", float(low),
                float(high), insisted=insisted)


def knob_setting(name: str) -> str:
    """`name` if a knob may set it; else ConfigError naming cc_map, with the reason."""
    allowed = knob_settings()
    if name in allowed:
        return name
    if name in NOT_ON_KNOBS:
        why = f"{name} cannot be on a knob"
    elif name in field_types():
        why = f"{name} is read once, at start: it cannot be on a knob"
    else:
        close = difflib.get_close_matches(name, allowed, n=1)
        why = f"no setting {name!r}" + (f" (did you mean {close[0]}?)" if close else "")
    raise ConfigError("cc_map", f"{why}; knobs can set {', '.join(allowed)}")


def _check_cc(cc: int, shown: str, insisted: bool = False) -> None:
    if not 0 <= cc < FIRST_MODE_CC:
        raise ConfigError("cc_map", f"{shown!r}: CC {cc} is out of 0..{FIRST_MODE_CC - 1} "
                          f"({FIRST_MODE_CC}..127 are channel mode messages, all notes off "
                          "among them)" if 0 <= cc < CC_VALUES else
                          f"{shown!r}: CC {cc} is out of 0..127")
    if cc == SUSTAIN_PEDAL:
        raise ConfigError("cc_map", f"{shown!r}: CC 64 is the sustain pedal")
    if cc in FIXED_MEANING_CCS and not insisted:
        raise ConfigError("cc_map", fixed_meaning_refusal(cc, shown))


def fixed_meaning_refusal(cc: int, shown: str) -> str:
    """Why a knob on `cc` (a controller of fixed meaning) is refused, and how to insist."""
    return (f"{shown!r}: CC {cc} is {FIXED_MEANING_CCS[cc]} (a meaning MIDI fixes: a synth "
            f"acts on it); write CC{INSIST} ({cc}{INSIST}) to map it anyway")


def _checked_value(setting: str, text: str, shown: str) -> Any:
    """One end of a range or one choice, as the setting's type, checked by the setting's
    own check (ConfigError naming cc_map)."""
    optional = type(None) in typing.get_args(field_types()[setting])
    try:
        if optional and text.casefold() in ("none", "null"):
            value = None
        elif not text:
            raise ConfigError(setting, "an empty value")
        else:
            value = coerce_value(setting, text, "cc_map", from_text=True)
        CheckedConfig(**{**RELAXED_PARTNERS.get(setting, {}), setting: value})
    except ConfigError as err:
        if err.field != setting:
            return value  # another option's check against the defaults: not this knob's
        raise ConfigError("cc_map", f"{shown!r}: {text!r} is no value for {setting} "
                          f"({err.problem})") from None
    return value


def fixed_meaning_warnings(config: CheckedConfig) -> list[str]:
    """What to warn of where the panic or end-of-call knob is a controller of fixed meaning
    (a number has no room for "!": it is taken, and said): the synth on the output acts on
    it too, and the keyboard's own fader or pedal may send it; and where a knob insisted on
    one (`CC!`) gets no cc_feedback."""
    return [f"{name} {cc}: CC {cc} is {FIXED_MEANING_CCS[cc]} (a meaning MIDI fixes): the "
            "synth acts on it too, and a fader or pedal sending it would trigger this"
            for name in ("panic_cc", "end_cc")
            if (cc := getattr(config, name)) in FIXED_MEANING_CCS] + [
            f"cc_map {knob.entry}: CC {knob.cc} is {FIXED_MEANING_CCS[knob.cc]}: cc_feedback "
            "sends nothing on it (the synth would act on it)"
            for knob in (check_cc_map(config) if config.cc_feedback else ())
            if knob.cc in FIXED_MEANING_CCS]


def check_cc_map(config: CheckedConfig) -> tuple[Knob, ...]:
    """The config's knobs, checked against its other controls (ConfigError naming cc_map)."""
    knobs = parse_cc_map(config.cc_map) if config.cc_map is not None else ()
    taken = {"panic_cc": config.panic_cc, "end_cc": config.end_cc}
    for knob in knobs:
        for name, cc in taken.items():
            if knob.cc == cc:
                raise ConfigError("cc_map", f"CC {cc} cannot be both the {name} and the knob "
                                  f"for {knob.setting}")
        if (knob.setting == "phrase_end" and "control" in knob.choices
                and config.end_cc is None and config.end_note is None):
            raise ConfigError("cc_map", f"{knob.entry!r}: phrase_end control needs an end_cc "
                              "or an end_note: half the knob would be refused")
    return knobs


def with_knob(text: str | None, knob: Knob) -> tuple[str, list[str]]:
    """The map `text` with `knob` added: (the new text, the entries it replaced: those on
    the same CC or for the same setting)."""
    kept, replaced = [], []
    for old in parse_cc_map(text) if text else ():
        (replaced if old.cc == knob.cc or old.setting == knob.setting else kept).append(old)
    return ", ".join(entry.entry for entry in [*kept, knob]), [old.entry for old in replaced]


def feedback_messages(config: CheckedConfig, knobs: typing.Iterable[Knob],
                      heard_on: typing.Mapping[int, int] | None = None) -> list[tuple]:
    """The CC messages that show each knob's setting as it is now, on the channel the knob
    was last heard on (`heard_on`: CC -> channel 1..16, where that is still a knob channel),
    else the lowest knob channel: a controller's LED ring listens on the channel its knob
    sends on, not on the answer's. None for a value outside a knob's reach, and none on a
    controller of fixed meaning even when its knob was insisted on (`CC!`): the output
    goes to the synth, and a top_p of 0.5 fed back on CC 7 would set its volume to 0."""
    channels = config.knob_channels()
    if not channels:
        return []
    messages = []
    for knob in knobs:
        if knob.cc in FIXED_MEANING_CCS:
            continue
        cc_value = knob.cc_value_of(getattr(config, knob.setting))
        if cc_value is not None:
            channel = (heard_on or {}).get(knob.cc)
            channel = channel if channel in channels else min(channels)
            messages.append((CONTROL_CHANGE | (channel - 1), knob.cc, cc_value))
    return messages


def changed_knobs(old: CheckedConfig, new: CheckedConfig) -> list[Knob]:
    """The knobs whose CC should be sent after `old` became `new` (cc_feedback on): those
    whose setting changed, new knobs, and every knob when feedback or the knobs' channel
    just changed."""
    if not new.cc_feedback:
        return []
    knobs = check_cc_map(new)
    if not old.cc_feedback or old.knob_channels() != new.knob_channels():
        return list(knobs)
    before = set(check_cc_map(old))
    return [knob for knob in knobs if knob not in before
            or getattr(old, knob.setting) != getattr(new, knob.setting)]
