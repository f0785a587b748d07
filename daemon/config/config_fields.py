"""The table of options: every option of `antiphon run`, declared once, as one field.

Each field of ConfigFields is one option. The comment above it is its description (what
`antiphon config init` writes above its line: toml_file.py reads it from this source);
its `option(...)` metadata says how the command line shows it: the flag's help, the
flags when they are not `--name-with-dashes`, whether a running daemon takes a change
(live), the default as the help says it where the value says too little. Every other
name follows from the field's name by rule (option_names.py): the TOML key is the name,
the variable `ANTIPHON_<NAME>`. The command line's parameters (cli/options.py), the
TOML file, the environment, `antiphon config show` and the docs' list of live options
(tests/daemon/config/test_option_table.py) are all read from here.

ConfigFields checks nothing: config_checks.py's CheckedConfig adds the checks, and
daemon_config.py's DaemonConfig, the one the daemon reads, the CC map's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from antiphon.daemon.midi.backends import BACKEND_NAMES

DEVICE_NAMES = ("auto", "cpu", "cuda")
CLOCK_SOURCES = ("internal", "midi", "auto", "link")
ANSWER_ON = ("beat", "bar")
PHRASE_ENDS = ("silence", "bars", "pedal", "control")
LOG_LEVELS = ("debug", "info", "warning", "error")
BEATS_PER_BAR = 4  # the bar of --answer-on bar, --phrase-bars and Link's quantum
OPTION_METADATA = "option"  # the key of a field's OptionInfo in its metadata


@dataclass(frozen=True)
class OptionInfo:
    """How the command line shows one option (the metadata of its field)."""

    help: str  # the flag's help, before the default it shows
    live: bool = False  # a running daemon takes a change (`set`, `reload`, OSC, knobs)
    flags: tuple[str, ...] = ()  # when not --name-with-dashes: the flags, the first shown
    default_text: str | None = None  # the default as the help says it (else the value's)
    file: bool = False  # the flag takes a file's path (not a folder's)
    panel: str | None = None  # the `--help` panel it is listed in (None: Options)


def option(default: Any, help: str, **how: Any) -> Any:
    """A field of ConfigFields: its default, and how the command line shows it (OptionInfo's
    other fields by name)."""
    return dataclasses.field(default=default,
                             metadata={OPTION_METADATA: OptionInfo(help, **how)})


@dataclass(frozen=True)
class ConfigFields:
    # MIDI input to listen to: a port name or part of one. None: the first hardware input,
    # or else a virtual port "Antiphon In" that a keyboard or DAW can connect to.
    in_port: str | None = option(
        None, "Input port (name or part of it).", flags=("--in", "--in-port"),
        default_text="the first hardware input, else a virtual port 'Antiphon In'")
    # MIDI output to answer on: a port name or part of one. None: a virtual port
    # "Antiphon Out" for a DAW or synth to connect to.
    out_port: str | None = option(
        None, "Output port (name or part of it).", flags=("--out", "--out-port"),
        default_text="a virtual port 'Antiphon Out'")
    # MIDI system: auto, alsa, jack, coremidi or winmm. auto: the platform's own; on Linux
    # without an ALSA sequencer (/dev/snd/seq) but with a JACK server running, JACK.
    backend: str = option("auto", f"MIDI system: {', '.join(BACKEND_NAMES)}.")
    # The model: a path to an .onnx file, or a model's name: one of yours (in the user model
    # folder, where `antiphon export --name NAME` writes), else a shipped one. None: the
    # shipped default.
    model: str | None = option(None, "Model: an .onnx file or a shipped model's name.",
                               default_text="the shipped default")
    # Where onnxruntime runs the model: auto (a CUDA GPU when usable, else CPU), cpu, cuda.
    device: str = option("auto", f"Run the model on: {', '.join(DEVICE_NAMES)}.")
    # Tempo of the internal clock, in beats per minute.
    bpm: float = option(120.0, "Tempo in beats per minute.", live=True)
    # Where the beat comes from: internal; midi (MIDI clock on the input or clock_in, as a
    # DAW or drum machine sends it: tempo, beat and bar, Start / Stop / Continue; bpm holds
    # until the pulses come, and their last tempo is kept when they stop); auto (internal
    # until MIDI clock arrives, then the clock's); or link (an Ableton Link session: tempo
    # and bar shared with its peers over the network, the one traffic Antiphon makes).
    clock: str = option(
        "internal", "Where the beat comes from: internal; midi (MIDI clock, as a DAW sends "
        "it: tempo, beats and bars, Start / Stop); auto (internal until MIDI clock comes); "
        "link (an Ableton Link session).")
    # A port that brings the MIDI clock when it does not come with the notes (name or part
    # of one); with clock internal, naming one follows it as auto does. None: the clock
    # comes on the input.
    clock_in: str | None = option(
        None, "Take the MIDI clock from this port (name or part of it).",
        default_text="the input")
    # A port to send MIDI clock to (24 pulses a beat, Start and Stop), so a drum machine or
    # a DAW follows Antiphon's tempo. None: no clock out.
    clock_out: str | None = option(
        None, "Send MIDI clock (24 a beat, Start / Stop) to this port.")
    # How early the answer leaves, in milliseconds, so it is heard on the beat rather than
    # that much after it: the delay on the way to the synth, as a DAW's output latency.
    # None: auto, from the MIDI system (on JACK the output port's playback latency, 0 between
    # two clients; elsewhere 0). A followed MIDI clock's pulses are timed back by the input's
    # delay either way (on JACK its capture latency and half a period).
    output_latency_ms: float | None = option(
        None, "Send the answer this many milliseconds early, so it is heard on the beat "
        "(the delay to the synth).", default_text="auto: JACK's latencies, else 0")
    # Where answers may start: beat (on the grid_beats grid) or bar (on a downbeat: with a
    # MIDI clock or Link, the band's; with the internal clock, counted from the call).
    answer_on: str = option(
        "beat", "Where answers may start: beat (the --grid-beats grid) or bar (a downbeat).",
        live=True)
    # With clock midi: answer while the DAW is stopped too (by default a Stop silences the
    # answer and Antiphon waits for Start or Continue).
    answer_when_stopped: bool = option(
        False, "With --clock midi: answer while the DAW is stopped too.")
    # Silence (in beats) after the player's last release that ends the call.
    silence_beats: float = option(1.0, "Silence that ends a call, in beats.", live=True)
    # Answers last about as many beats as the call, but at least this many...
    min_answer_beats: float = option(2.0, "Shortest answer, in beats.", live=True)
    # ...and at most this many.
    max_answer_beats: float = option(16.0, "Longest answer, in beats.", live=True)
    # Answers start on a multiple of this many beats (1: on the beat, 4: on the bar in 4/4).
    # A whole number of clock ticks (1/24 beat).
    grid_beats: float = option(1.0, "Answers start on multiples of this many beats.",
                               live=True)
    # Sampling temperature: below 1 plays safer, above 1 wilder.
    temperature: float = option(1.0, "Sampling temperature: <1 safer, >1 wilder.", live=True)
    # Sample only among the likeliest next events holding this share of the probability
    # (nucleus sampling): 0.9 trims the unlikely tail, 1 keeps everything.
    top_p: float = option(
        1.0, "Sample among the likeliest events holding this much probability (0-1].",
        live=True)
    # Longest rest, in beats, before an answer's first note: the player is waiting.
    max_opening_rest_beats: float = option(
        0.5, "Longest rest before an answer's first note, in beats.", live=True)
    # Keep answers in a scale: "<tonic> <mode>" like "D dorian" or "Bb major". "auto": the
    # call's key (kept to when certain, leaned toward otherwise: key_bias), and a range an
    # octave around the call's notes.
    # "chromatic" (or none): any pitch.
    scale: str | None = option(
        "auto", "Keep answers in a scale: 'D dorian', 'Bb major', 'A minor-pentatonic', "
        "...; auto: the call's key (kept to when certain, else leaned toward: --key-bias) "
        "and range; chromatic: any pitch.", live=True)
    # With scale "auto", how strongly an answer leans toward its call's likely keys when
    # the key is not certain enough to keep to (a bias on the model's logits, nothing
    # masked: a pitch class outside every likely key's scale is about e^-key_bias times
    # as likely as the model would have it). 0: no lean.
    key_bias: float = option(
        3.0, "With --scale auto, how strongly an answer leans toward the call's likely keys "
        "when none is certain (nothing masked); 0: no lean.", live=True)
    # Answers strike no pitch below this MIDI note number...
    lowest_pitch: int = option(0, "Lowest MIDI note an answer strikes.", live=True)
    # ...and none above this one.
    highest_pitch: int = option(127, "Highest MIDI note an answer strikes.", live=True)
    # Most answer notes sounding at once. None: as many as the model likes.
    max_polyphony: int | None = option(None, "Most answer notes sounding at once.",
                                       live=True, default_text="no limit")
    # Whose texture the answer follows: auto (the call's: a single line is answered in one
    # voice, chords with at most as many notes at once as the call sounded), melody (one
    # voice) or chords (as many as the model likes, up to max_polyphony).
    texture: str = option(
        "auto", "Answer in one voice or in chords: auto (as the call: a single line gets a "
        "single line), melody (one voice) or chords (up to --max-polyphony).", live=True)
    # Answers drawn per call, of which the best is played: scored by the critic and by how
    # near each is to the call's pitch classes, density and register (best of N). 1: the
    # first one drawn, streamed as it is sampled.
    candidates: int = option(
        8, "Answers drawn per call, of which the best is played (judged by a critic and by "
        "how near each is to the call's notes, density and register); 1: the first, "
        "streamed as it is sampled.", live=True)
    # MIDI channel of the answer, 1..16.
    channel: int = option(1, "MIDI channel of the answer, 1-16.", live=True)
    # Random seed for sampling; None: a different answer every run.
    seed: int | None = option(None, "Random seed, for repeatable answers.")
    # MIDI channels (1..16) the daemon listens to, as "1-9,11-16" or "all". The default
    # leaves out 10, the drum channel: a drum machine's notes are no call to answer.
    listen_channels: str = option(
        "1-9,11-16", "MIDI channels to listen to, e.g. 1-9,11-16 or all.", live=True)
    # What ends a call: silence (silence_beats after the last release), bars (phrase_bars
    # bars from the bar it began in, on the clock's grid), pedal (the sustain pedal lifted)
    # or control (end_cc or end_note). Whatever ends it, max_hold_beats of nothing does too.
    phrase_end: str = option(
        "silence", "What ends a call: silence, bars (--phrase-bars), pedal (the sustain "
        "pedal lifted) or control (--end-cc / --end-note).", live=True)
    # With phrase_end bars: how many bars (of 4 beats) a call lasts.
    phrase_bars: int = option(
        2, f"With --phrase-end bars: bars (of {BEATS_PER_BAR} beats) per call.", live=True)
    # With phrase_end control: a controller whose move to 64 or more ends the call...
    end_cc: int | None = option(
        None, "With --phrase-end control: a controller whose move to 64 or more ends the "
        "call.", live=True)
    # ...or a key (MIDI note) that ends it instead of playing.
    end_note: int | None = option(
        None, "With --phrase-end control: a key that ends the call.", live=True)
    # A key held longer than this many beats no longer holds the call open (a note-off
    # that never comes, a stuck key): the phrase ends and the daemon answers.
    max_hold_beats: float = option(
        8.0, "A key held longer than this (beats) no longer holds the call open.", live=True)
    # Seconds the MIDI system may be gone (a JACK server restarting) before the daemon
    # gives up and exits non-zero, so a service manager restarts it.
    reconnect_timeout: float = option(
        30.0, "Seconds to wait for a MIDI system that went away before exiting non-zero.")
    # Silence the output when it opens (note-off for every note, all-notes-off, all-sound-
    # off on all 16 channels): what a crashed run left sounding stops.
    panic_on_start: bool = option(
        True, "Silence the output (all notes off, 16 channels) when it opens.")
    # MIDI thru: the player's notes (and sustain pedal) go on to the output as they come,
    # so one synth plays both the call and the answer.
    thru: bool = option(
        False, "MIDI thru: pass the player's notes on to the output, so one synth plays "
        "both.", live=True)
    # Models a program change selects, comma-separated: program 1 (0 on the wire) the
    # first, and so on, swapped as `antiphon model` swaps them (heard on the knob channel,
    # as the knobs are). None: programs are ignored.
    program_models: str | None = option(
        None, "Models a program change selects, comma-separated (program 1 the first).",
        live=True, default_text="programs ignored")
    # A controller number whose move past the middle (value 64 or more) is a panic: the
    # answer is dropped, every note released. None: no such knob.
    panic_cc: int | None = option(
        None, "A controller whose move to 64 or more panics (all notes off).", live=True)
    # A note (MIDI number) that is a panic button instead of a note. None: no such key.
    panic_note: int | None = option(
        None, "A key (MIDI note) that panics instead of playing.", live=True)
    # Knobs and faders that set live options: comma-separated SETTING=CC:RANGE entries, a
    # range LOW..HIGH (CC 0..127 mapped linearly onto it) or choices A|B|C (0..127 shared
    # among them), e.g. "temperature=21:0.5..1.5, scale=23:C major|D dorian|chromatic".
    # `antiphon learn SETTING` adds one by turning the knob. None: no knobs.
    cc_map: str | None = option(
        None, "Knobs that set live options: 'temperature=21:0.5..1.5, scale=23:C major|D "
        "dorian' (SETTING=CC:LOW..HIGH or A|B|C).", live=True)
    # Send a mapped setting's value back as its CC (on the knob's channel) whenever it
    # changes, from anywhere, so a controller's LED rings or motor faders follow.
    cc_feedback: bool = option(
        False, "Send a mapped setting's value back as its CC when it changes (LED rings).",
        live=True)
    # The MIDI channel the knobs of cc_map, program changes (program_models) and `antiphon
    # learn` listen on: one channel 1..16, several ("1-4"), or "all" (every channel
    # listened to). None: the lowest channel listen_channels takes (1 by default), so a CC 1
    # on another channel, another instrument's mod wheel, moves nothing.
    knob_channel: str | None = option(
        None, "The channel the knobs (--cc-map, antiphon learn) listen on: 1-16, a list "
        "like 1-4, or all.", live=True, default_text="the lowest channel listened to")
    # Logging detail: debug, info, warning, error.
    log_level: str = option("info", "debug, info, warning or error.", live=True)
    # Write every message sent (when it was due, when it left) to this file at exit, as
    # JSON lines: for timing analysis (`antiphon bench loop` reads it). None: no record.
    timing_trace: str | None = option(
        None, "At exit, write every message received (when it arrived) and sent (when it "
        "was due, when it left) to this file (JSON lines).", file=True)
    # The control socket (`antiphon status`, `set`, `model`, `panic`, `reload` talk to it).
    # None: control.sock in the user's runtime folder ($XDG_RUNTIME_DIR/antiphon).
    control_socket: str | None = option(
        None, "The control socket (antiphon status, set, model, reload).", file=True,
        default_text="control.sock in $XDG_RUNTIME_DIR/antiphon")
    # Listen for Open Sound Control messages on this UDP port (the same settings as the
    # control socket, and state messages out). None: no OSC, no network socket at all.
    osc_port: int | None = option(None, "Listen for Open Sound Control on this UDP port.",
                                  default_text="no OSC")
    # The address OSC listens on: 127.0.0.1 keeps it on this machine; 0.0.0.0 opens it to
    # the network (a tablet running TouchOSC).
    osc_host: str = option("127.0.0.1", "The address OSC listens on (0.0.0.0: the network).")
    # Keep every call and answer as a take: a journal in the takes folder, flushed twice a
    # second and made a .mid when the daemon stops (or, after a crash, when it next starts);
    # `antiphon sessions` lists, exports and draws them. False (--no-record): nothing kept.
    record: bool = option(True, "Record every call and answer as a take (antiphon sessions).")
    # The takes folder. None: sessions/ in the user's data folder
    # ($XDG_DATA_HOME/antiphon/sessions).
    record_folder: str | None = option(
        None, "The folder takes are kept in.",
        default_text="sessions in $XDG_DATA_HOME/antiphon")
    # Takes kept: when the daemon starts, the oldest go until those left hold at most this
    # many megabytes, and any older than record_keep_days go too.
    record_keep_mb: float = option(500.0, "Megabytes of takes kept (the oldest go first).")
    # Takes older than this many days are removed when the daemon starts.
    record_keep_days: float = option(90.0, "Days a take is kept.")
    # A local web page (127.0.0.1 only, behind a token printed when the daemon is ready):
    # a live piano roll of call and answer, the tempo and key, the live settings as
    # controls, the takes. Off by default: without it nothing listens on the network.
    web: bool = option(False, "Serve a local web page: live piano roll, controls, takes.")
    # The web page's port on 127.0.0.1.
    web_port: int = option(8737, "The web page's port on 127.0.0.1.")
