"""Helpers for the engine's tests: music to train the small test models on, and model files
with a card or a graph edited to be wrong (importable because pytest puts this folder on
sys.path: a module name of its own, unlike `conftest`, which every test folder has)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from antiphon.engine.card import CARD_METADATA_KEY, ModelCard, StateTensor, StepIO
from antiphon.engine.events import NoteEvent

CHORDS = np.array([[0, 2, 4], [1, 3, 5], [2, 4, 6], [3, 5, 7]])  # keys of the chord model


def scale_piece(rng: np.random.Generator, notes: int = 48) -> list[NoteEvent]:
    """A stepwise melody in C major with a little rhythm variety."""
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    events, tick, degree = [], 0, 0
    for _ in range(notes):
        degree = int(np.clip(degree + rng.integers(-2, 3), 0, len(scale) - 1))
        length = int(rng.choice([6, 12, 24]))
        events += [NoteEvent(tick, scale[degree], 80), NoteEvent(tick + length, scale[degree], 0)]
        tick += length
    return events


def chord_rolls(pieces: int, length: int, seed: int) -> list[np.ndarray]:
    """Each frame one of four 3-note chords on 8 keys (MIDI 60-67), held for 1-3 frames."""
    rng = np.random.default_rng(seed)
    rolls = []
    for _ in range(pieces):
        roll = np.zeros((length, 8), dtype=bool)
        frame = 0
        while frame < length:
            hold = int(rng.integers(1, 4))
            roll[frame:frame + hold, CHORDS[rng.integers(0, len(CHORDS))]] = True
            frame += hold
        rolls.append(roll)
    return rolls


# -- model files edited to be wrong ------------------------------------------------------
def rewrite_card(source: Path, target: Path, edit: Callable[[str], str]) -> None:
    """Copy an .onnx file with its card's text replaced by `edit(text)`."""
    import onnx

    proto = onnx.load(str(source))
    for entry in proto.metadata_props:
        if entry.key == CARD_METADATA_KEY:
            entry.value = edit(entry.value)
    onnx.save(proto, str(target))


def edit_card_json(edit: Callable[[dict[str, Any]], None]) -> Callable[[str], str]:
    """A card edit that changes the parsed card in place (for rewrite_card)."""

    def rewrite(text: str) -> str:
        card = json.loads(text)
        edit(card)
        return json.dumps(card)

    return rewrite


def make_graph_dims_dynamic(source: Path, target: Path, names: set[str]) -> None:
    """Copy an .onnx file with the named inputs' and outputs' dimensions left open, so the
    graph no longer states the shapes its weights need (a card can then disagree with them
    and pass every static check)."""
    import onnx

    proto = onnx.load(str(source))
    for value in [*proto.graph.input, *proto.graph.output]:
        if value.name in names:
            for index, dim in enumerate(value.type.tensor_type.shape.dim):
                dim.Clear()
                dim.dim_param = f"{value.name}_{index}"
    onnx.save(proto, str(target))


TOY_KEYS = 4


def write_toy_frame_model(path: Path, state_op: str, card_shape: tuple[int, ...] = (3,)) -> None:
    """A 4-key piano-roll step graph small enough to write by hand, whose state input's
    shape the graph leaves open: the state output is `state_op` of the state input
    ("Identity" plays; "Concat" returns twice the state the card says; "Gather" fails at
    run time, reading past the end of the state)."""
    import onnx
    from onnx import TensorProto, helper

    def tensor(name: str, shape: list) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    nodes = [helper.make_node("Add", ["frame", "logit_bias"], ["logits"]),
             helper.make_node("Identity", ["frame"], ["sample"])]
    if state_op == "Concat":
        nodes.append(helper.make_node("Concat", ["s_in", "s_in"], ["s_out"], axis=0))
    elif state_op == "Gather":  # reads index 5 of the state: past the end of 3 values
        nodes.append(helper.make_node("Constant", [], ["picks"], value=helper.make_tensor(
            "picks", TensorProto.INT64, [3], [0, 1, 5])))
        nodes.append(helper.make_node("Gather", ["s_in", "picks"], ["s_out"], axis=0))
    else:
        nodes.append(helper.make_node(state_op, ["s_in"], ["s_out"]))
    graph = helper.make_graph(
        nodes, "toy_frames",
        [tensor("frame", [1, TOY_KEYS]), tensor("temperature", [1]),
         tensor("uniform", [1, TOY_KEYS]), tensor("logit_bias", [TOY_KEYS]),
         tensor("s_in", ["state"])],
        [tensor("sample", [1, TOY_KEYS]), tensor("logits", [1, TOY_KEYS]),
         tensor("s_out", None)],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8  # what the shipped models use; every onnxruntime reads it
    card = ModelCard(
        name="toy", family="toy", representation="pianoroll", representation_version=1,
        codec={"version": 1, "lowest_pitch": 60, "keys": TOY_KEYS, "frames_per_beat": 1,
               "distinguish_onsets": False},
        vocabulary=[f"key {60 + k}" for k in range(TOY_KEYS)],
        state=[StateTensor("s_in", "s_out", card_shape)],
        io=StepIO(token="frame", top_p=""),
    )
    helper.set_model_props(proto, {CARD_METADATA_KEY: card.to_json()})
    onnx.save(proto, str(path))
