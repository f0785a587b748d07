"""The answer critic at run time: score sampled answers to one call, higher = more like
the call's real continuation, so the engine can sample several answers and play the best.

The critic is a small bidirectional LSTM (trained by training/families/critic.py and
training/evaluation/critic_train.py) exported to ONNX with a batch dimension:
`tokens` int64 [batch, length] (right-padded with PAD) and `lengths` int64 [batch] in,
`logits` float32 [batch] out. Its settings (vocabulary, token caps, held-out figures) are
JSON in the file's metadata under CRITIC_METADATA_KEY; the model card of step graphs
(card.py) does not fit it, since a critic has no step, state or sampling inputs.

The critic reads its own compact vocabulary rather than the events codec's:

    PAD              padding after a sequence's end (never inside one)
    SEP              between the call and the answer
    NOTE_ON(p)       p = 0..127
    NOTE_OFF(p)      p = 0..127
    SHIFT(n)         n = 1..48 clock ticks (24 per beat); longer gaps are chained

It has no velocity tokens: the corpora it learns from carry no dynamics, and the sampled
answers it must tell from real ones play at the call's last velocity bin, so velocity
would be a give-away in training and noise from a live player. Events are put in the
canonical order (`sort_events`) before encoding, so the order in which a sampler emits
simultaneous events cannot give it away either.

numpy and onnxruntime only: this runs inside the daemon.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from antiphon.engine.card import ModelLoadError
from antiphon.engine.events import NoteEvent, sort_events
from antiphon.engine.model import ORT_ERRORS, STEP_ERRORS

CRITIC_METADATA_KEY = "antiphon_critic"
ENCODING_VERSION = 1
PAD = 0
SEP = 1
NOTE_ON_BASE = 2
NOTE_OFF_BASE = NOTE_ON_BASE + 128
SHIFT_BASE = NOTE_OFF_BASE + 128  # SHIFT(n) = SHIFT_BASE + n - 1
MAX_SHIFT_TICKS = 48
VOCAB_SIZE = SHIFT_BASE + MAX_SHIFT_TICKS
# The work per scoring is bounded: the end of a long call and the start of a long answer
# are what decide whether one follows the other.
MAX_CALL_TOKENS = 256
MAX_ANSWER_TOKENS = 256
INPUT_TOKENS = "tokens"
INPUT_LENGTHS = "lengths"
OUTPUT_LOGITS = "logits"


def shift_tokens(ticks: int) -> list[int]:
    """SHIFT tokens that advance time by `ticks` (none for zero or less)."""
    if ticks <= 0:
        return []
    tokens = [SHIFT_BASE + MAX_SHIFT_TICKS - 1] * (ticks // MAX_SHIFT_TICKS)
    if ticks % MAX_SHIFT_TICKS:
        tokens.append(SHIFT_BASE + ticks % MAX_SHIFT_TICKS - 1)
    return tokens


def encode_events(events: Sequence[NoteEvent], start_tick: int) -> tuple[list[int], int]:
    """Tokens for `events` with time counted from `start_tick`, and the tick they end at.
    Events before `start_tick` count as at it."""
    tokens: list[int] = []
    tick = start_tick
    for event in sort_events(events):
        if event.tick > tick:
            tokens.extend(shift_tokens(event.tick - tick))
            tick = event.tick
        base = NOTE_ON_BASE if event.velocity > 0 else NOTE_OFF_BASE
        tokens.append(base + event.pitch)
    return tokens, tick


def encode_pair(call: Sequence[NoteEvent], answer: Sequence[NoteEvent], answer_start_tick: int,
                max_call_tokens: int = MAX_CALL_TOKENS,
                max_answer_tokens: int = MAX_ANSWER_TOKENS) -> list[int]:
    """call + SEP + answer as critic tokens: the call from its first event, then the gap to
    `answer_start_tick`, then SEP, then the answer from `answer_start_tick`. Only the last
    `max_call_tokens` of the call and the first `max_answer_tokens` of the answer are kept."""
    if call:
        first = min(event.tick for event in call)
        call_tokens, call_end = encode_events(call, first)
        call_tokens += shift_tokens(answer_start_tick - call_end)
    else:
        call_tokens = []
    answer_tokens, _ = encode_events(answer, answer_start_tick)
    kept_call = call_tokens[-max_call_tokens:] if max_call_tokens > 0 else []
    return kept_call + [SEP] + answer_tokens[:max_answer_tokens]


def pad_batch(sequences: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(tokens int64 [batch, longest] right-padded with PAD, lengths int64 [batch])."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    tokens = np.full((len(sequences), max(1, int(lengths.max(initial=1)))), PAD, np.int64)
    for row, sequence in zip(tokens, sequences, strict=True):
        row[: len(sequence)] = sequence
    return tokens, lengths


@dataclass(frozen=True)
class CriticInfo:
    """What the file's metadata says about the critic."""

    name: str
    encoding_version: int
    vocab_size: int
    max_call_tokens: int
    max_answer_tokens: int
    description: str = ""
    training: dict | None = None
    metrics: dict | None = None


def _read_info(session: ort.InferenceSession, path: Path) -> CriticInfo:
    try:
        metadata = session.get_modelmeta().custom_metadata_map
    except UnicodeDecodeError as err:
        raise ModelLoadError(path, f"its metadata is not UTF-8 text ({err})") from err
    if CRITIC_METADATA_KEY not in metadata:
        raise ModelLoadError(path, f"the file is not an answer critic (no metadata key "
                             f"{CRITIC_METADATA_KEY!r})")
    try:
        data = json.loads(metadata[CRITIC_METADATA_KEY])
        info = CriticInfo(
            name=str(data["name"]), encoding_version=int(data["encoding_version"]),
            vocab_size=int(data["vocab_size"]), max_call_tokens=int(data["max_call_tokens"]),
            max_answer_tokens=int(data["max_answer_tokens"]),
            description=str(data.get("description", "")), training=data.get("training"),
            metrics=data.get("metrics"))
    except (ValueError, KeyError, TypeError, RecursionError) as err:
        raise ModelLoadError(path, f"its critic metadata is not valid ({err!r})") from err
    if info.encoding_version != ENCODING_VERSION or info.vocab_size != VOCAB_SIZE:
        raise ModelLoadError(path, f"critic encoding version {info.encoding_version} with "
                             f"{info.vocab_size} tokens is not supported (this Antiphon reads "
                             f"version {ENCODING_VERSION}, {VOCAB_SIZE} tokens)")
    if info.max_call_tokens < 0 or info.max_answer_tokens < 1:
        raise ModelLoadError(path, "its critic metadata caps the tokens at less than one")
    return info


class Critic:
    """An onnxruntime session over an exported critic; `Critic.load(path)` makes one."""

    def __init__(self, session: ort.InferenceSession, info: CriticInfo, path: Path) -> None:
        self.session = session
        self.info = info
        self.path = path

    @classmethod
    def load(cls, path: str | Path, threads: int = 1) -> Critic:
        """Load and check a critic; ModelLoadError (one line) for a missing, corrupt or
        foreign file, or one whose graph fails on a first scoring."""
        path = Path(path)
        if not path.is_file():
            raise ModelLoadError(path, "not a file" if path.exists() else "no such file")
        options = ort.SessionOptions()
        # One thread, no spinning, as the step model: spare cores belong to the MIDI threads.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(path), sess_options=options,
                                           providers=["CPUExecutionProvider"])
        except ORT_ERRORS as err:
            raise ModelLoadError(path, f"onnxruntime cannot read it ({err})") from err
        except UnicodeDecodeError as err:
            raise ModelLoadError(path, f"a name in it is not UTF-8 text ({err})") from err
        names = ({i.name for i in session.get_inputs()}, {o.name for o in session.get_outputs()})
        if names != ({INPUT_TOKENS, INPUT_LENGTHS}, {OUTPUT_LOGITS}):
            raise ModelLoadError(path, f"a critic graph takes {INPUT_TOKENS!r} and "
                                 f"{INPUT_LENGTHS!r} and gives {OUTPUT_LOGITS!r}; this one "
                                 f"takes {sorted(names[0])} and gives {sorted(names[1])}")
        critic = cls(session, _read_info(session, path), path)
        try:  # a graph that fails at run time is refused now, not at the first answer
            logits = critic._run(*pad_batch([[SEP], [NOTE_ON_BASE + 60, SEP]]))
        except STEP_ERRORS as err:
            raise ModelLoadError(path, f"the graph fails on a first scoring ({err})") from err
        if logits.shape != (2,) or not np.all(np.isfinite(logits)):
            raise ModelLoadError(path, f"the graph gives logits of shape {logits.shape} for a "
                                 "batch of 2, or not finite ones")
        return critic

    def tokens(self, call: Sequence[NoteEvent], answer: Sequence[NoteEvent],
               answer_start_tick: int) -> list[int]:
        """The capped token sequence the critic reads for one answer."""
        return encode_pair(call, answer, answer_start_tick, self.info.max_call_tokens,
                           self.info.max_answer_tokens)

    def score(self, call: Sequence[NoteEvent], answers: Sequence[Sequence[NoteEvent]],
              answer_start_tick: int) -> np.ndarray:
        """One float (a logit) per answer: higher = more like the call's real continuation.
        All answers run as one batch; an empty `answers` gives an empty array."""
        if not answers:
            return np.zeros(0, dtype=np.float32)
        sequences = [self.tokens(call, answer, answer_start_tick) for answer in answers]
        return self._run(*pad_batch(sequences))

    def _run(self, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        (logits,) = self.session.run([OUTPUT_LOGITS], {INPUT_TOKENS: tokens,
                                                       INPUT_LENGTHS: lengths})
        return np.asarray(logits, dtype=np.float32).reshape(-1)
