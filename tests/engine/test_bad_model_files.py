"""A model file that cannot be played is refused at load, before anything is called ready:
one ModelLoadError, one line, naming the file and the card field at fault. Nothing else
escapes (no KeyError or TypeError from deep inside the engine, no crash at the first note),
and `antiphon run` / `antiphon demo` say it in one line and exit 1.

The edited files start from the shipped models (an events LSTM and a piano-roll RNN-NADE),
or from a piano-roll step graph written by hand (engine_fixtures.write_toy_frame_model).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from engine_fixtures import (
    edit_card_json,
    make_graph_dims_dynamic,
    rewrite_card,
    write_toy_frame_model,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from antiphon.engine.card import CARD_METADATA_KEY, ModelCard, ModelLoadError
from antiphon.engine.card_checks import check_card_against_graph
from antiphon.engine.model import StepModel
from antiphon.engine.session import open_session
from antiphon.exported_models import model_path

EVENTS = model_path("default")  # LSTM over note events, 321 tokens
FRAMES = model_path("nade-nottingham")  # RNN-NADE over 88-key frames


def setting(path: str, value: Any) -> Callable[[str], str]:
    """A card edit setting the field at a dotted path ("codec.keys", "state.0.shape")."""

    def edit(card: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = card
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[int(last) if isinstance(target, list) else last] = value

    return edit_card_json(edit)


def dropping(path: str) -> Callable[[str], str]:
    def edit(card: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = card
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        del target[last]

    return edit_card_json(edit)


def assert_refused(path, field: str) -> str:
    """Loading `path` raises ModelLoadError: one line, naming the file and `field`."""
    with pytest.raises(ModelLoadError) as caught:
        StepModel(path, device="cpu")
    message = str(caught.value)
    assert message.startswith(f"cannot load model {str(path)!r}: "), message
    assert field in message, message
    assert "\n" not in message and len(message) < 600  # a line, even for a huge bad value
    return message


EVENT_CARDS = {
    # field types, one case per field
    "card_version as text": (setting("card_version", "1"), "card field card_version"),
    "a newer card_version": (setting("card_version", 7), "card field card_version 7"),
    "name a number": (setting("name", 5), "card field name"),
    "name empty": (setting("name", " "), "card field name"),
    "name a huge list": (setting("name", list(range(100_000))), "card field name"),
    "family null": (setting("family", None), "card field family"),
    "description a list": (setting("description", ["one"]), "card field description"),
    "representation unknown": (setting("representation", "audio"),
                               "card field representation 'audio'"),
    "representation a list": (setting("representation", ["events"]),
                              "card field representation"),
    "representation_version text": (setting("representation_version", "1"),
                                    "card field representation_version"),
    "representation_version 0": (setting("representation_version", 0),
                                 "card field representation_version"),
    "representation_version true": (setting("representation_version", True),
                                    "card field representation_version"),
    "representation_version newer": (setting("representation_version", 2),
                                     "card field representation_version 2"),
    "ticks_per_beat 0": (setting("ticks_per_beat", 0), "card field ticks_per_beat"),
    "ticks_per_beat a float": (setting("ticks_per_beat", 24.0), "card field ticks_per_beat"),
    "ticks_per_beat 48": (setting("ticks_per_beat", 48), "card field ticks_per_beat"),
    "codec a string": (setting("codec", "events"), "card field codec"),
    "codec field as text": (setting("codec.velocity_bins", "16"), "card field codec"),
    "codec field impossible": (setting("codec.max_shift_ticks", 0), "card field codec"),
    "codec field unknown": (setting("codec.swing", 0.6), "card field codec"),
    "codec makes another vocabulary": (setting("codec.velocity_bins", 4),
                                       "card field vocabulary has 321 tokens"),
    "vocabulary a string": (setting("vocabulary", "BOS"), "card field vocabulary"),
    "vocabulary empty": (setting("vocabulary", []), "card field vocabulary"),
    "vocabulary of numbers": (setting("vocabulary.0", 0), "card field vocabulary[0]"),
    "vocabulary short": (edit_card_json(lambda card: card["vocabulary"].pop()),
                         "card field vocabulary has 320 tokens"),
    "state an object": (setting("state", {"h": [2, 1, 512]}), "card field state"),
    "state entry a number": (setting("state.0", 5), "card field state[0]"),
    "state without output": (dropping("state.0.output"), "card field state[0].output"),
    "state input a number": (setting("state.0.input", 7), "card field state[0].input"),
    "state field unknown": (setting("state.0.device", "gpu"), "card field state[0].device"),
    "state shape negative": (setting("state.0.shape", [2, 1, -512]),
                             "card field state[0].shape"),
    "state shape zero": (setting("state.0.shape", [2, 0, 512]), "card field state[0].shape"),
    "state shape text": (setting("state.0.shape", "2x1x512"), "card field state[0].shape"),
    "state shape floats": (setting("state.0.shape", [2, 1, 512.0]),
                           "card field state[0].shape"),
    "state shape huge": (setting("state.0.shape", [100000, 100000, 512]),
                         "card field state[0].shape"),
    "state dtype unknown": (setting("state.0.dtype", "floaty"), "card field state[0].dtype"),
    "state dtype not a tensor": (setting("state.0.dtype", "complex64"),
                                 "card field state[0].dtype"),
    "state named twice": (setting("state.1.input", "h_in"), "card field state[1].input"),
    "io a list": (setting("io", ["token"]), "card field io"),
    "io name a number": (setting("io.token", 3), "card field io.token"),
    "io name empty": (setting("io.logits", ""), "card field io.logits"),
    "io field unknown": (setting("io.velocity", "velocity"), "card field io.velocity"),
    "training a list": (setting("training", []), "card field training"),
    "metrics a string": (setting("metrics", "good"), "card field metrics"),
    "an unknown field": (setting("tempo", 120), "card field tempo"),
    "state missing": (dropping("state"), "card field state is missing"),
    # the card against the graph
    "io names no input": (setting("io.token", "wrong_name"), "card field io.token"),
    "io names an input of another type": (
        edit_card_json(lambda card: card["io"].update(token="temperature",
                                                      temperature="token")),
        "card field io.token"),
    "state shape disagrees with the graph": (setting("state.0.shape", [2, 1, 256]),
                                             "card field state[0].shape"),
    "state rank disagrees with the graph": (setting("state.1.shape", [2, 512]),
                                            "card field state[1].shape"),
    "state dtype disagrees with the graph": (setting("state.0.dtype", "float64"),
                                             "card field state[0].dtype"),
    "state names no input": (setting("state.0.input", "hidden_in"),
                             "card field state[0].input"),
    "state names no output": (setting("state.1.output", "cell_out"),
                              "card field state[1].output"),
    "a state left out": (edit_card_json(lambda card: card["state"].pop()),
                         "card field state names no tensor for the graph input 'c_in'"),
}

FRAME_CARDS = {
    "codec keys disagree with the vocabulary": (setting("codec.keys", 80),
                                                "card field vocabulary has 88 keys"),
    "codec frames_per_beat impossible": (setting("codec.frames_per_beat", 5),
                                         "card field codec"),
    "codec flag as text": (setting("codec.distinguish_onsets", "no"), "card field codec"),
    "codec pitch range impossible": (setting("codec.lowest_pitch", 100), "card field codec"),
    "vocabulary and codec disagree with the graph": (
        edit_card_json(lambda card: (card["codec"].update(keys=80),
                                     card.update(vocabulary=card["vocabulary"][:80]))),
        "card field vocabulary has 80 entries, but the graph's logits"),
    "io names a top_p the graph lacks": (setting("io.top_p", "top_p"), "card field io.top_p"),
    "io token named as for events": (setting("io.token", "token"), "card field io.token"),
    "state shape disagrees with the graph": (setting("state.1.shape", [1, 1, 512]),
                                             "card field state[1].shape"),
}


@pytest.mark.parametrize(("edit", "field"), EVENT_CARDS.values(), ids=EVENT_CARDS.keys())
def test_a_bad_events_card_is_refused_naming_the_field(tmp_path, edit, field):
    target = tmp_path / "bad.onnx"
    rewrite_card(EVENTS, target, edit)
    assert_refused(target, field)


@pytest.mark.parametrize(("edit", "field"), FRAME_CARDS.values(), ids=FRAME_CARDS.keys())
def test_a_bad_piano_roll_card_is_refused_naming_the_field(tmp_path, edit, field):
    target = tmp_path / "bad.onnx"
    rewrite_card(FRAMES, target, edit)
    assert_refused(target, field)


@pytest.mark.parametrize(("text", "problem"), [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ("[" * 100_000, "not valid JSON"),
])
def test_a_card_that_is_not_a_json_object_is_refused(tmp_path, text, problem):
    target = tmp_path / "bad.onnx"
    rewrite_card(FRAMES, target, lambda _: text)
    assert_refused(target, problem)


def test_files_that_are_no_model(tmp_path):
    assert_refused(tmp_path / "nope.onnx", "no such file")
    assert_refused(tmp_path, "not a file")
    text = tmp_path / "notes.onnx"
    text.write_text("C4 E4 G4\n")
    assert_refused(text, "onnxruntime cannot read it")
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    assert_refused(empty, "onnxruntime cannot read it")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(FRAMES.read_bytes()[:5000])
    assert_refused(truncated, "onnxruntime cannot read it")
    bare = tmp_path / "bare.onnx"
    proto = onnx.load(str(FRAMES))
    del proto.metadata_props[:]
    onnx.save(proto, str(bare))
    assert_refused(bare, "no model card")


def test_a_damaged_file_loads_or_is_refused_and_nothing_else(tmp_path, capfd):
    """Bytes flipped anywhere in a file (its graph, its names, its card): onnxruntime's own
    errors, names that are not UTF-8 text, a card that is no longer JSON... every one is a
    ModelLoadError of one line, or the file still loads."""
    source = tmp_path / "toy.onnx"
    write_toy_frame_model(source, "Identity")
    data = source.read_bytes()
    rng = np.random.default_rng(0)
    damaged = tmp_path / "damaged.onnx"
    refused = 0
    for _ in range(400):
        flipped = bytearray(data)
        for position in rng.integers(0, len(data), size=rng.integers(1, 5)):
            flipped[position] = rng.integers(0, 256)
        damaged.write_bytes(bytes(flipped))
        try:
            StepModel(damaged, device="cpu")
        except ModelLoadError as err:
            assert "\n" not in str(err)
            refused += 1
    assert refused > 300
    assert "EP Error" not in capfd.readouterr().out  # onnxruntime's retry banner


def test_a_state_the_graph_leaves_open_is_checked_against_its_weights(tmp_path):
    """With the state's dimensions left open in the graph's signature, onnxruntime still
    knows what the weights return; a card that disagrees is refused."""
    dynamic = tmp_path / "dynamic.onnx"
    make_graph_dims_dynamic(FRAMES, dynamic, {"h_in", "c_in"})
    StepModel(dynamic, device="cpu")  # the card is right: it loads
    target = tmp_path / "bad.onnx"
    rewrite_card(dynamic, target, setting("state.0.shape", [1, 1, 128]))
    assert_refused(target, "card field state[0].shape")


@pytest.mark.parametrize("io_binding", [False, True])
def test_a_graph_is_refused_at_load_when_its_first_step_fails(tmp_path, io_binding):
    """Shapes the graph leaves open pass every static check; the step run at load finds
    what would otherwise fail at the player's first note."""
    fine = tmp_path / "fine.onnx"
    write_toy_frame_model(fine, "Identity")
    assert StepModel(fine, device="cpu", io_binding=io_binding).card.vocab_size == 4
    failing = tmp_path / "failing.onnx"
    write_toy_frame_model(failing, "Gather")  # reads past the end of its state
    with pytest.raises(ModelLoadError, match="the graph fails at its first step") as caught:
        StepModel(failing, device="cpu", io_binding=io_binding)
    assert "\n" not in str(caught.value)
    growing = tmp_path / "growing.onnx"
    write_toy_frame_model(growing, "Concat")  # returns twice the state its card says
    with pytest.raises(ModelLoadError, match=r"card field state\[0\].shape is \[3\], but the "
                                             "graph's first step returns 's_out' as \\[6\\]"):
        StepModel(growing, device="cpu", io_binding=io_binding)


def test_open_session_refuses_the_same_way(tmp_path):
    target = tmp_path / "bad.onnx"
    rewrite_card(EVENTS, target, setting("state.0.shape", [2, 1, 256]))
    with pytest.raises(ModelLoadError, match=r"state\[0\].shape"):
        open_session(target, device="cpu")


# -- whatever a card says, only ValueError comes out of reading it ------------------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=8,
)
FIELD_PATHS = ["name", "family", "description", "representation", "representation_version",
               "ticks_per_beat", "codec", "codec.keys", "codec.frames_per_beat",
               "codec.lowest_pitch", "codec.version", "codec.distinguish_onsets", "vocabulary",
               "vocabulary.3", "state", "state.0", "state.0.shape", "state.0.shape.2",
               "state.0.dtype", "state.0.input", "state.1.output", "io", "io.token",
               "io.top_p", "io.sample", "training", "metrics", "card_version"]


@pytest.fixture(scope="module")
def frames_graph():
    session = ort.InferenceSession(str(FRAMES), providers=["CPUExecutionProvider"])
    return session, session.get_modelmeta().custom_metadata_map[CARD_METADATA_KEY]


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(FIELD_PATHS), value=JSON_VALUES)
def test_any_value_in_any_field_is_a_value_error_or_a_card(frames_graph, path, value):
    session, text = frames_graph
    edited = setting(path, value)(text)
    try:
        card = ModelCard.from_json(edited)
        check_card_against_graph(session, card)
    except ValueError as err:
        assert "\n" not in str(err)
        return
    assert card.vocab_size == 88 and json.loads(edited)  # what loads is still a sound card
    assert all(isinstance(d, int) and d > 0 for s in card.state for d in s.shape)


# -- the command line ---------------------------------------------------------------------
@pytest.fixture
def bad_model(tmp_path):
    target = tmp_path / "bad.onnx"
    rewrite_card(FRAMES, target, setting("state.0.shape", [1, 1, 999]))
    return target


@pytest.mark.parametrize("command", [["run"], ["demo", "--transport", "loopback"]])
def test_the_command_line_refuses_a_bad_model_with_an_error_and_exit_1(bad_model, command):
    from antiphon.daemon.cli.app import app

    result = CliRunner().invoke(app, [*command, "--model", str(bad_model)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    said = " ".join(result.output.split())
    assert f"error: cannot load model '{bad_model}': card field state[0].shape" in said


@pytest.mark.parametrize("command", [["run"], ["demo", "--transport", "loopback"]])
def test_the_command_line_error_is_one_line(bad_model, command):
    from antiphon.daemon.cli.app import app

    result = CliRunner().invoke(app, [*command, "--model", str(bad_model)])
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_every_shipped_model_passes_the_checks():
    from antiphon.exported_models import available_models

    for name in available_models():
        model = StepModel(model_path(name), device="cpu")
        assert model.card.name == name
        assert np.shape(model.initial_state()[0]) == model.card.state[0].shape
