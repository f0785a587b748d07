"""`antiphon bridge A.mid B.mid`: a VAE (LSTM or Transformer) walks from phrase A to B.

Both phrases are read as piano rolls on the model's grid and encoded to the means of their
codes, z_A and z_B; the bridge is `steps` phrases decoded from the codes evenly spaced on
the line from z_A to z_B (z_A and z_B included), played one after the other. Decoding
samples each frame (a Bernoulli draw per key) at `temperature`; a seed makes it repeatable.
"""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import torch

from antiphon.engine.events import TICKS_PER_BEAT, NoteEvent
from antiphon.engine.pianoroll import HELD, PianoRollCodec, PianoRollCodecConfig, PianoRollDecoder
from antiphon.training.data.midi_folder import read_midi_notes
from antiphon.training.families.lstm_vae import LstmVaeModel
from antiphon.training.families.transformer_vae import TransformerVaeModel
from antiphon.training.fit.checkpoint import load_checkpoint


def phrase_roll(path: Path, codec: PianoRollCodec) -> np.ndarray:
    """A MIDI file as bool [frames, keys] on the codec's grid (notes out of range dropped,
    with ValueError if nothing is left)."""
    notes = read_midi_notes(path)
    config = codec.config
    keep = (notes[:, 2] >= config.lowest_pitch) & (notes[:, 2] <= config.highest_pitch)
    if not keep.any():
        raise ValueError(f"{path}: no notes in the model's range "
                         f"{config.lowest_pitch}..{config.highest_pitch}")
    events = [NoteEvent(int(start), int(pitch), 80) for start, _, pitch, _ in notes[keep]]
    events += [NoteEvent(int(end), int(pitch), 0) for _, end, pitch, _ in notes[keep]]
    return codec.encode(events) != 0


@torch.no_grad()
def bridge(checkpoint: Path, phrase_a: Path, phrase_b: Path, steps: int = 5,
           temperature: float = 1.0, seed: int = 0) -> tuple[list[NoteEvent], PianoRollCodec]:
    """The note events of the whole bridge (phrase after phrase) and the model's codec."""
    if steps < 2:
        raise ValueError(f"a bridge needs at least 2 steps (A and B), got {steps}")
    model, data = load_checkpoint(checkpoint)
    if not isinstance(model, LstmVaeModel | TransformerVaeModel):
        raise ValueError(f"{checkpoint}: a bridge needs a VAE checkpoint, not "
                         f"{data['family']!r}")
    model.eval()
    codec = PianoRollCodec(PianoRollCodecConfig.from_dict(data["codec"]))
    rolls = [phrase_roll(path, codec) for path in (phrase_a, phrase_b)]
    codes = []
    for roll in rolls:
        frames = torch.from_numpy(roll.astype(np.float32))[None]
        mean, _ = model.encode(frames, torch.tensor([len(roll)]))
        codes.append(mean[0])
    length = max(len(roll) for roll in rolls)
    generator = torch.Generator().manual_seed(seed)
    events: list[NoteEvent] = []
    decoder = PianoRollDecoder(codec, 0)
    for weight in np.linspace(0.0, 1.0, steps):
        z = ((1 - weight) * codes[0] + weight * codes[1])[None]  # [1, Z]
        state = [*model.initial_state(1)[:-1], z]  # z is a VAE's last state tensor
        frame = torch.zeros(1, codec.config.keys)
        for _ in range(length):
            uniform = torch.rand(frame.shape, generator=generator)
            frame, _, state = model.step(frame, uniform, state, temperature)
            events += decoder.feed(np.where(frame[0].numpy() > 0.5, HELD, 0).astype(np.uint8))
        events += decoder.finish()  # each phrase ends with its notes released
    return events, codec


def write_events(path: Path, events: list[NoteEvent], bpm: float = 100.0) -> None:
    """A one-track MIDI file of `events` (ticks on the 24-per-beat grid)."""
    midi = mido.MidiFile(ticks_per_beat=TICKS_PER_BEAT)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    last = 0
    for event in sorted(events, key=lambda e: (e.tick, e.velocity > 0)):
        kind = "note_on" if event.velocity else "note_off"
        track.append(mido.Message(kind, note=event.pitch, velocity=event.velocity,
                                  time=event.tick - last))
        last = event.tick
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.save(path)
