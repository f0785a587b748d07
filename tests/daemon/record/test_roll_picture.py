"""The piano-roll picture: a real PNG with the call's colour and the answer's where their
notes are, bars and beats along the bottom, pitch names up the side."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.image import imread
from record_helpers import record_take

from antiphon.daemon.record.roll_picture import (
    ANSWER_COLOUR,
    CALL_COLOUR,
    draw_roll,
    pitch_name,
    take_roll_notes,
)
from antiphon.daemon.record.takes import read_take

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def pixels_of(png: bytes, colour: str) -> int:
    picture = imread(io.BytesIO(png), format="png")[..., :3]
    return int(np.all(np.abs(picture - np.array(to_rgb(colour))) < 0.02, axis=-1).sum())


def drawn(call, answer, **options) -> bytes:
    buffer = io.BytesIO()
    draw_roll(call, answer, buffer, **options)
    return buffer.getvalue()


def test_a_take_is_drawn_as_a_png_in_two_colours(tmp_path):
    take = read_take(tmp_path / "takes", record_take(tmp_path / "takes"))
    call, answer = take_roll_notes(take)
    # 120 BPM: the call's first note from 0.5 s to 1 s is beat 1 to beat 2.
    assert call == [(1.0, 2.0, 60, 100), (2.0, 3.0, 64, 90)]
    assert answer == [(5.0, 6.0, 67, 80), (6.0, 7.0, 72, 80)]
    path = tmp_path / "roll.png"
    draw_roll(call, answer, path, title=take.id)
    png = path.read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    assert 5_000 < len(png) < 2_000_000
    height, width = imread(path).shape[:2]
    assert width >= 600 and height >= 300
    # Each side's colour covers far more than its legend's patch once its notes are drawn.
    legend_only = drawn([], [])
    for colour in (CALL_COLOUR, ANSWER_COLOUR):
        assert pixels_of(png, colour) > 3 * pixels_of(legend_only, colour)
    just_call = drawn(call, [])
    assert pixels_of(just_call, CALL_COLOUR) > 3 * pixels_of(just_call, ANSWER_COLOUR)


def test_bars_beats_and_pitch_names_are_on_the_axes(monkeypatch):
    from matplotlib.figure import Figure

    drawn_axes = []
    original = Figure.savefig

    def keep_axes(figure, *args, **kwargs):
        drawn_axes.append(figure.axes[0])
        return original(figure, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep_axes)  # to read the axes the PNG shows
    drawn([(0.0, 1.0, 60, 100)], [(9.0, 10.0, 64, 100)], beats_per_bar=3)
    [axes] = drawn_axes
    assert axes.get_xlim() == (0, 12)  # four bars of three beats
    bars = [(tick, label.get_text()) for tick, label in
            zip(axes.get_xticks(), axes.get_xticklabels(), strict=True) if 0 <= tick <= 12]
    assert bars == [(0, "1"), (3, "2"), (6, "3"), (9, "4"), (12, "5")]
    beats = [beat for beat in axes.xaxis.get_minorticklocs() if 0 <= beat <= 12]
    assert beats == [beat for beat in range(13) if beat % 3]  # bar lines are the major ticks
    assert "C4" in [label.get_text() for label in axes.get_yticklabels()]
    assert "E4" in [label.get_text() for label in axes.get_yticklabels()]


@pytest.mark.parametrize(("pitch", "name"), [(60, "C4"), (61, "C#4"), (21, "A0"),
                                             (0, "C-1"), (127, "G9")])
def test_pitch_names(pitch, name):
    assert pitch_name(pitch) == name


def test_a_long_take_labels_every_few_bars(monkeypatch, caplog):
    from matplotlib.figure import Figure

    drawn_axes = []
    original = Figure.savefig

    def keep_axes(figure, *args, **kwargs):
        drawn_axes.append(figure.axes[0])
        return original(figure, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep_axes)
    notes = [(beat, beat + 0.5, 60 + beat % 12, 90) for beat in range(0, 1600, 2)]
    png = drawn(notes, [], title="400 bars")
    assert png.startswith(PNG_SIGNATURE)
    [axes] = drawn_axes
    labels = [tick for tick in axes.get_xticks() if 0 <= tick <= 1600]
    assert 10 <= len(labels) <= 41 and labels[1] - labels[0] == 4 * 16
    assert not [r for r in caplog.records if "MAXTICKS" in r.getMessage()]


def test_drawn_apart_is_the_same_picture_drawn_by_another_process():
    from antiphon.daemon.record.roll_picture import drawn_apart

    call = [(0.0, 1.0, 60, 90), (1.0, 2.0, 64, 80)]
    answer = [(4.0, 4.5, 67, 70), (4.5, 6.0, 72, 100)]
    here = io.BytesIO()
    draw_roll(call, answer, here, title="apart")
    assert drawn_apart(call, answer, title="apart") == here.getvalue()


def test_a_drawing_that_fails_apart_is_an_oserror_saying_why():
    from antiphon.daemon.record.roll_picture import drawn_apart

    with pytest.raises(OSError, match="could not be drawn: .*ValueError"):
        drawn_apart([(0.0, 1.0, "not a pitch", 90)], [])
