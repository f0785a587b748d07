"""A piano-roll picture of a call and its answer (PNG): the call in one colour, the answer in
another, bars and beats along the bottom, pitch names up the side.

matplotlib is imported inside `draw_roll` only (it takes a second to import, and the daemon
never needs it to play), and through its Agg canvas directly: no pyplot, no global backend.
A playing daemon never draws in its own process: matplotlib's Agg renderer keeps Python's
interpreter lock while it draws, for as long as a big picture takes, and the scheduler
could not send a note meanwhile. `drawn_apart` draws in a Python process of its own (this
module run as a program, at a lower priority) and hands back the PNG: the web page uses it.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from antiphon.daemon.record.midi_export import TempoMap, in_time_order, note_spans
from antiphon.daemon.record.take_events import ANSWER, CALL, Take

RollNote = tuple[float, float, int, int]  # (start_beat, end_beat, pitch, velocity)
CALL_COLOUR = "#1f5fbf"  # blue
ANSWER_COLOUR = "#e8590c"  # orange
PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MAX_WIDTH_INCHES = 40.0  # a long take is drawn narrower per bar past this
INCHES_PER_BAR = 1.6
DPI = 100
MAX_BAR_LABELS = 40
MAX_BEAT_LINES = 400
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
APART_NICENESS = 10  # the drawing process yields the cores to the playing one
APART_TIMEOUT_SECONDS = 120.0


def pitch_name(pitch: int) -> str:
    """C4 is MIDI 60."""
    return f"{PITCH_NAMES[pitch % 12]}{pitch // 12 - 1}"


def take_roll_notes(take: Take) -> tuple[list[RollNote], list[RollNote]]:
    """The call's notes and the answer's, in beats through the take's tempo map."""
    events = in_time_order(take.events)
    tempo = TempoMap.of(events)
    return tuple(  # type: ignore[return-value]
        [(span.start, span.end, span.pitch, span.velocity)
         for span in note_spans(events, kind, tempo, take.seconds)]
        for kind in (CALL, ANSWER))


def draw_roll(call: Sequence[RollNote], answer: Sequence[RollNote], path: Path | BinaryIO,
              *, beats_per_bar: int = 4, title: str = "") -> None:
    """Write the piano roll of `call` and `answer` as a PNG to `path` (a file name or a
    binary file)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import FixedLocator, MultipleLocator

    notes = [*call, *answer]
    last_beat = max((end for _, end, _, _ in notes), default=float(beats_per_bar))
    bars = max(1, math.ceil(last_beat / beats_per_bar - 1e-9))
    low = min((pitch for _, _, pitch, _ in notes), default=60) - 2
    high = max((pitch for _, _, pitch, _ in notes), default=72) + 2
    width = min(MAX_WIDTH_INCHES, max(6.0, 1.5 + bars * INCHES_PER_BAR))
    height = min(12.0, max(3.0, 1.5 + (high - low) * 0.12))
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for roll, colour in ((call, CALL_COLOUR), (answer, ANSWER_COLOUR)):
        rows: dict[int, list[tuple[float, float]]] = {}  # one collection a pitch: fast
        for start, end, pitch, _velocity in roll:
            rows.setdefault(pitch, []).append((start, max(end - start, 0.05)))
        for pitch, bars_of_pitch in rows.items():
            axes.broken_barh(bars_of_pitch, (pitch - 0.4, 0.8), facecolors=colour,
                             edgecolors="none")
    axes.set_xlim(0, bars * beats_per_bar)
    axes.set_ylim(low - 0.5, high + 0.5)
    # A bar a label and a beat a thin line, as long as they can be told apart; a long take
    # labels every few bars and draws thin lines at bars, then only at the labels: never
    # more than MAX_BEAT_LINES lines (a take of days would otherwise ask for millions).
    bars_a_label = 2 ** max(0, math.ceil(math.log2(bars / MAX_BAR_LABELS)))
    if bars <= MAX_BEAT_LINES // beats_per_bar:
        thin, thin_says = 1, "thin lines: beats"
    elif bars <= MAX_BEAT_LINES:
        thin, thin_says = beats_per_bar, "thin lines: bars"
    else:
        thin, thin_says = beats_per_bar * bars_a_label, f"a line every {bars_a_label} bars"
    axes.xaxis.set_major_locator(MultipleLocator(beats_per_bar * bars_a_label))
    axes.xaxis.set_minor_locator(MultipleLocator(thin))
    axes.xaxis.set_major_formatter(lambda beat, _: f"{int(round(beat / beats_per_bar)) + 1}")
    axes.grid(which="major", axis="x", color="#555555", linewidth=0.8)
    axes.grid(which="minor", axis="x", color="#cccccc", linewidth=0.4)
    axes.set_xlabel(f"bar ({beats_per_bar} beats; {thin_says})" if thin == 1
                    else f"bar ({thin_says})")
    step = 1 if high - low <= 24 else 12
    names = [pitch for pitch in range(low, high + 1) if step == 1 or pitch % 12 == 0]
    axes.yaxis.set_major_locator(FixedLocator(names))
    axes.yaxis.set_major_formatter(lambda pitch, _: pitch_name(int(round(pitch))))
    axes.tick_params(axis="y", labelsize=7 if step == 1 else 9)
    axes.set_ylabel("pitch")
    axes.legend(handles=[Patch(color=CALL_COLOUR, label=f"call ({len(call)} notes)"),
                         Patch(color=ANSWER_COLOUR, label=f"answer ({len(answer)} notes)")],
                loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, fontsize=8,
                frameon=False)  # above the roll, never over a note
    if title:
        axes.set_title(title, loc="left")
    if not notes:
        axes.text(0.5, 0.5, "no notes", transform=axes.transAxes, ha="center",
                  va="center", color="#888888")
    figure.tight_layout()
    figure.savefig(path, format="png")


def drawn_apart(call: Sequence[RollNote], answer: Sequence[RollNote], *,
                beats_per_bar: int = 4, title: str = "") -> bytes:
    """The PNG `draw_roll` makes, drawn by a Python process of its own (see the module
    docstring). Raises ImportError without matplotlib, OSError when the drawing fails."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise ImportError("matplotlib is not installed", name="matplotlib")
    request = json.dumps({"call": list(call), "answer": list(answer),
                          "beats_per_bar": beats_per_bar, "title": title})
    try:
        drawn = subprocess.run([sys.executable, "-m", __name__], input=request.encode(),
                               capture_output=True, timeout=APART_TIMEOUT_SECONDS,
                               check=False)
    except subprocess.TimeoutExpired as err:
        raise OSError(f"the piano roll took over {APART_TIMEOUT_SECONDS:g} s to draw") from err
    if drawn.returncode != 0 or not drawn.stdout.startswith(PNG_SIGNATURE):
        said = drawn.stderr.decode(errors="replace").strip().splitlines()
        raise OSError(f"the piano roll could not be drawn: {said[-1] if said else 'no PNG'}")
    return drawn.stdout


def _draw_what_stdin_asks() -> None:
    """`python -m antiphon.daemon.record.roll_picture`: the roll of the JSON on standard
    input ({"call", "answer", "beats_per_bar", "title"}) as a PNG on standard output."""
    os.nice(APART_NICENESS)
    request = json.load(sys.stdin)
    notes = [[(float(start), float(end), int(pitch), int(velocity))
              for start, end, pitch, velocity in request[side]] for side in ("call", "answer")]
    draw_roll(*notes, sys.stdout.buffer, beats_per_bar=int(request["beats_per_bar"]),
              title=str(request["title"]))


if __name__ == "__main__":
    _draw_what_stdin_asks()
