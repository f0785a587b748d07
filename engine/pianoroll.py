"""The piano-roll representation: note events <-> frames on a beat grid.

A piece is a uint8 array [T, keys], one row per frame (`ticks_per_frame` clock ticks) and
one column per key (key 0 = `lowest_pitch`):

    SILENT (0)   the key is not sounding in this frame
    STRUCK (1)   a note starts on this key at the start of this frame
    HELD   (2)   the note sounding in the previous frame goes on through this one

Keeping onsets apart from holds is what lets a roll say "C4 twice" instead of "C4 long"
(a re-strike is a note-off and a note-on at the same frame). With `distinguish_onsets`
off, a re-strike is folded into a hold, as in the benchmark rolls, which record only what
is sounding; the array keeps the same three values, so `sounding` and `onsets` work on
both kinds. Frames carry no velocity: decoding plays every note at one velocity (a
FrameSession takes the call's).

The round trip events -> frames -> events is lossless for notes that start and end on the
frame grid, last at least one frame and lie in the key range (played at the decoding
velocity). Other notes are snapped to the nearest frame boundaries, at least one frame long.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent, sort_events
from antiphon.engine.json_config import JsonConfig

REPRESENTATION = "pianoroll"
REPRESENTATION_VERSION = 1

SILENT = 0
STRUCK = 1
HELD = 2

DEFAULT_VELOCITY = 80  # frames carry no dynamics; a mezzo-forte that sits well in a mix


@dataclass(frozen=True)
class PianoRollCodecConfig(JsonConfig):
    """The versioned configuration that fixes the frame layout."""

    config_name = "piano-roll codec"

    version: int = REPRESENTATION_VERSION  # bump when the frame layout changes
    lowest_pitch: int = 21  # MIDI pitch of key 0 (21 = A0, the piano's lowest key)
    keys: int = 88  # columns per frame (88 = the piano, A0..C8)
    frames_per_beat: int = 4  # 4 = sixteenths, 2 = eighths, 1 = quarters
    distinguish_onsets: bool = True  # False folds a re-strike into a hold

    def __post_init__(self) -> None:
        if self.version != REPRESENTATION_VERSION:
            raise ValueError(
                f"piano-roll codec version {self.version} is not supported "
                f"(this Antiphon reads version {REPRESENTATION_VERSION})"
            )
        if not 1 <= self.keys <= 128:
            raise ValueError(f"keys must be 1..128, got {self.keys}")
        if not 0 <= self.lowest_pitch <= 128 - self.keys:
            raise ValueError(
                f"lowest_pitch must be 0..{128 - self.keys} for {self.keys} keys, "
                f"got {self.lowest_pitch}"
            )
        if self.frames_per_beat < 1 or TICKS_PER_BEAT % self.frames_per_beat:
            raise ValueError(
                f"frames_per_beat must divide {TICKS_PER_BEAT} (1, 2, 3, 4, 6, 8, 12, 24), "
                f"got {self.frames_per_beat}"
            )

    @property
    def ticks_per_frame(self) -> int:
        return TICKS_PER_BEAT // self.frames_per_beat

    @property
    def highest_pitch(self) -> int:
        return self.lowest_pitch + self.keys - 1


def sounding(frames: np.ndarray) -> np.ndarray:
    """bool [T, K]: True where a key sounds (struck or held)."""
    return np.asarray(frames) != SILENT


def onsets(frames: np.ndarray) -> np.ndarray:
    """bool [T, K]: True where a note starts.

    A hold on a key that was silent also counts: a sampler draws holds independently, and
    a note has to start somewhere.
    """
    frames = np.asarray(frames)
    previous = np.zeros_like(frames[:1])  # [1, K]: nothing sounds before the first frame
    was_sounding = sounding(np.concatenate([previous, frames[:-1]]))  # [T, K]
    return (frames == STRUCK) | ((frames == HELD) & ~was_sounding)


def fold_restrikes(frames: np.ndarray) -> np.ndarray:
    """The same roll with every re-strike turned into a hold (what a plain roll records)."""
    is_sounding = sounding(frames)  # [T, K]
    was_sounding = np.zeros_like(is_sounding)
    was_sounding[1:] = is_sounding[:-1]
    folded = np.where(is_sounding, STRUCK, SILENT).astype(np.uint8)  # [T, K]
    folded[is_sounding & was_sounding] = HELD
    return folded


class PianoRollCodec:
    """Encodes note events as frames and decodes them back."""

    def __init__(self, config: PianoRollCodecConfig | None = None) -> None:
        self.config = config or PianoRollCodecConfig()

    def key(self, pitch: int) -> int:
        """The column of a MIDI pitch; ValueError outside the key range."""
        config = self.config
        if not config.lowest_pitch <= pitch <= config.highest_pitch:
            raise ValueError(
                f"pitch {pitch} is outside the piano roll's range "
                f"{config.lowest_pitch}..{config.highest_pitch}"
            )
        return pitch - config.lowest_pitch

    def frame_of_tick(self, tick: int, start_tick: int = 0) -> int:
        """The frame boundary nearest to `tick` (halfway rounds up)."""
        ticks_per_frame = self.config.ticks_per_frame
        return (tick - start_tick + ticks_per_frame // 2) // ticks_per_frame

    # -- encoding -----------------------------------------------------------------------
    def encode(
        self, events: Iterable[NoteEvent], start_tick: int = 0, end_tick: int | None = None
    ) -> np.ndarray:
        """Frames uint8 [T, keys] for `events`, with frame 0 starting at `start_tick`.

        The events are read in canonical order (`sort_events`): a note-on on a sounding key
        re-strikes it, a note-off on a silent key is ignored, and a note still sounding at
        the end is released at `end_tick` (default: the last event's tick). T covers
        `end_tick` and every note.
        """
        events = sort_events(events)
        for event in events:
            if event.tick < start_tick:
                raise ValueError(f"event at tick {event.tick} lies before start_tick {start_tick}")
            self.key(event.pitch)
        last_tick = events[-1].tick if events else start_tick
        end_tick = last_tick if end_tick is None else end_tick
        if end_tick < last_tick:
            raise ValueError(f"end_tick {end_tick} lies before the last event ({last_tick})")

        notes: list[tuple[int, int, int]] = []  # (key, first frame, frame after the last)
        started: dict[int, int] = {}  # key -> frame where its sounding note started
        for event in events:
            key = self.key(event.pitch)
            frame = self.frame_of_tick(event.tick, start_tick)
            if key in started:  # a note-off, or a re-strike ending the note that sounds
                notes.append((key, started.pop(key), frame))
            if event.velocity > 0:
                started[key] = frame
        end_frame = -(-(end_tick - start_tick) // self.config.ticks_per_frame)  # ceiling
        notes.extend((key, first, end_frame) for key, first in started.items())

        # A note shorter than a frame still gets one; notes are written in time order, so a
        # later note overwrites the end of an earlier one it collides with after snapping.
        spans = [(key, first, max(stop, first + 1)) for key, first, stop in notes]
        length = max([end_frame, *(stop for _, _, stop in spans)])
        frames = np.zeros((length, self.config.keys), dtype=np.uint8)  # [T, K]
        for key, first, stop in sorted(spans, key=lambda span: span[1]):
            frames[first, key] = STRUCK
            frames[first + 1 : stop, key] = HELD
        if not self.config.distinguish_onsets:
            frames = fold_restrikes(frames)
        return frames

    # -- decoding -----------------------------------------------------------------------
    def decode(
        self, frames: np.ndarray, start_tick: int = 0, velocity: int = DEFAULT_VELOCITY
    ) -> list[NoteEvent]:
        """Note events for frames [T, keys], in canonical order; every note is released."""
        decoder = PianoRollDecoder(self, start_tick, velocity)
        events = [event for frame in self.check_frames(frames) for event in decoder.feed(frame)]
        return events + decoder.finish()

    def check_frames(self, frames: np.ndarray) -> np.ndarray:
        """`frames` as uint8 [T, keys]; ValueError for a wrong shape or value."""
        frames = np.asarray(frames)
        if frames.ndim != 2 or frames.shape[1] != self.config.keys:
            raise ValueError(f"frames must be [T, {self.config.keys}], got {frames.shape}")
        if frames.size and (frames.min() < SILENT or frames.max() > HELD):
            raise ValueError(f"frame values must be {SILENT}, {STRUCK} or {HELD}")
        return frames.astype(np.uint8, copy=False)


class PianoRollDecoder:
    """Streaming decoder: turns one frame at a time into note events.

    `feed` returns the events at the start of the frame: note-offs for keys that stop or
    are re-struck, then note-ons. `finish` releases whatever still sounds, so every
    note-on it ever returned has its note-off.
    """

    def __init__(
        self, codec: PianoRollCodec, start_tick: int = 0, velocity: int = DEFAULT_VELOCITY
    ) -> None:
        if not 1 <= velocity <= 127:
            raise ValueError(f"velocity must be 1..127, got {velocity}")
        self.codec = codec
        self.tick = start_tick  # where the next frame starts
        self.velocity = velocity
        self.sounding = np.zeros(codec.config.keys, dtype=bool)  # [K]

    def feed(self, frame: np.ndarray) -> list[NoteEvent]:
        frame = np.asarray(frame)
        if frame.shape != self.sounding.shape:
            raise ValueError(f"a frame must have {self.sounding.size} keys, got {frame.shape}")
        now_sounding = frame != SILENT  # [K]
        starts = (frame == STRUCK) | (now_sounding & ~self.sounding)  # [K]
        stops = self.sounding & (~now_sounding | starts)  # [K]
        lowest = self.codec.config.lowest_pitch
        events = [NoteEvent(self.tick, lowest + int(k), 0) for k in np.flatnonzero(stops)]
        events += [
            NoteEvent(self.tick, lowest + int(k), self.velocity) for k in np.flatnonzero(starts)
        ]
        self.sounding = now_sounding
        self.tick += self.codec.config.ticks_per_frame
        return events

    def finish(self) -> list[NoteEvent]:
        """Note-offs, at the end of the last frame fed, for every key still sounding."""
        lowest = self.codec.config.lowest_pitch
        events = [NoteEvent(self.tick, lowest + int(k), 0) for k in np.flatnonzero(self.sounding)]
        self.sounding = np.zeros_like(self.sounding)
        return events
