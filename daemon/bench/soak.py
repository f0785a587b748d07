"""The soak of `antiphon bench loop --minutes N`: while the musician plays, a stage hand
turns the knobs and swaps the model through the control socket, as a user of the service
would, and the daemon's memory is sampled. What must hold over the hour: every call
answered, no note stuck, every change taken (none refused), resident memory flat.

The changes follow a fixed plan by exchange number, so a run can be repeated:
temperature every exchange, top-p and the scale every third, the model every fifth (one
swap in two while an answer plays: the hard case), and a status request every exchange.
Memory is compared between samples taken with the same model loaded, from the second
round of models on (each model touches its pages the first time it plays).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from antiphon.daemon.bench.engine import verdict
from antiphon.daemon.control.socket_server import ask

TEMPERATURES = ("0.8", "1.0", "1.2")
SCALES = ("C major", "none")
TOP_PS = ("0.9", "1.0")
SWAP_EVERY = 5  # exchanges between model swaps
MODELS = ("default", "transformer", "nade-nottingham")  # an LSTM, a transformer, a piano roll
MID_ANSWER_WAIT_SECONDS = 10.0  # how long a mid-answer swap waits for the answer to begin


@dataclass
class Soak:
    """What the stage hand did and saw."""

    settings_changed: int = 0
    models_swapped: int = 0
    swapped_mid_answer: int = 0
    refused: list[str] = field(default_factory=list)  # each refusal's reason
    # (exchange, model loaded, resident MB by the daemon's own status)
    resident: list[tuple[int, str, float]] = field(default_factory=list)
    last_status: dict = field(default_factory=dict)


class StageHand:
    """Steers a running daemon through its control socket, by plan."""

    def __init__(self, socket: Path, first_model: str | None,
                 swap_every: int = SWAP_EVERY) -> None:
        self.socket = socket
        self.swap_every = swap_every
        first = first_model or MODELS[0]
        self.models = (first, *[name for name in MODELS if name != first])
        self.soak = Soak()
        self._model = self.models[0]
        self._mid_answer: threading.Thread | None = None

    def _ask(self, request: dict) -> dict:
        try:
            answer = ask(self.socket, request)
        except OSError as err:
            answer = {"ok": False, "error": str(err)}
        if not answer.get("ok"):
            self.soak.refused.append(f"{request}: {answer.get('error')}")
        return answer

    def before_call(self, exchange: int) -> None:
        """Knobs between exchanges; a swap planned for this exchange is made now or, one
        time in two, once the answer has begun (`during_answer`)."""
        self._set("temperature", TEMPERATURES[exchange % len(TEMPERATURES)])
        if exchange % 3 == 0:
            self._set("top_p", TOP_PS[exchange // 3 % len(TOP_PS)])
            self._set("scale", SCALES[exchange // 3 % len(SCALES)])
        every = self.swap_every
        if exchange and exchange % every == 0 and exchange // every % 2 == 0:
            self._swap(exchange // every)

    def during_answer(self, exchange: int, answer_began: threading.Event) -> None:
        """The other half of the swaps: on a thread, once the answer's first note came."""
        every = self.swap_every
        if not (exchange and exchange % every == 0 and exchange // every % 2 == 1):
            return

        def swap() -> None:
            if answer_began.wait(MID_ANSWER_WAIT_SECONDS):
                self._swap(exchange // every)
                self.soak.swapped_mid_answer += 1

        self._mid_answer = threading.Thread(target=swap, daemon=True)
        self._mid_answer.start()

    def after_answer(self, exchange: int) -> None:
        if self._mid_answer is not None:
            self._mid_answer.join()
            self._mid_answer = None
        answer = self._ask({"command": "status"})
        if answer.get("ok"):
            self.soak.last_status = answer["status"]
            self.soak.resident.append((exchange, self._model, answer["status"]["resident_mb"]))

    def _set(self, key: str, value: str) -> None:
        if self._ask({"command": "set", "key": key, "value": value}).get("ok"):
            self.soak.settings_changed += 1

    def _swap(self, turn: int) -> None:
        model = self.models[turn % len(self.models)]
        if self._ask({"command": "model", "name": model}).get("ok"):
            self._model = model
            self.soak.models_swapped += 1


def resident_growth(soak: Soak) -> tuple[float, float, float] | None:
    """(first MB, last MB, growth) between samples with the first model loaded, from its
    second time on; None when the run was too short to have one."""
    first_model = soak.resident[0][1] if soak.resident else None
    rounds: list[list[float]] = []
    previous = None
    for _, model, megabytes in soak.resident:
        if model == first_model:
            if previous != first_model:
                rounds.append([])
            rounds[-1].append(megabytes)
        previous = model
    later = [sample for round_ in rounds[1:] for sample in round_] if len(rounds) > 1 else []
    samples = later or (rounds[0][1:] if rounds else [])
    if len(samples) < 2:
        return None
    return samples[0], samples[-1], samples[-1] - samples[0]


def soak_lines(soak: Soak, exchanges: int, unanswered: int, stuck: tuple[int, int],
               dropped: int, minutes: float, flat_mb: float) -> list[str]:
    """The soak's table, under the loop's. `stuck`: (at the recorder, by the daemon's own
    account of what it sent): JACK without realtime scheduling can lose a note-off
    between two clients under load, which is not the daemon's doing."""
    growth = resident_growth(soak)
    memory = "–" if growth is None else f"{growth[0]:.0f} → {growth[1]:.0f} ({growth[2]:+.1f})"
    counters = soak.last_status.get("counters", {})
    ok = (unanswered == 0 and stuck == (0, 0) and not soak.refused and growth is not None
          and growth[2] <= flat_mb)
    lines = [
        "",
        f"Soak, steered through the control socket while it played ({minutes:g} min): the "
        "temperature set before every call, top-p and the scale every third, the model "
        f"swapped every {SWAP_EVERY}th ({', '.join(MODELS)}; one swap in two while an answer "
        "played), a status request after every answer. Resident memory by the daemon's own "
        "status, compared with the same model loaded, from its second turn on. "
        f"Targets: 0 unanswered, 0 stuck, 0 refused, memory grows <= {flat_mb:g} MB.",
        "",
        "| exchanges | unanswered | stuck at the recorder / by the daemon's sends | dropped "
        "| settings changed | models swapped "
        "(mid-answer) | refused | resident MB, same model: first → last | daemon's count: "
        "phrases / answers / barge-ins | target |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| {exchanges} | {unanswered} | {stuck[0]} / {stuck[1]} | {dropped} | "
        f"{soak.settings_changed} | "
        f"{soak.models_swapped} ({soak.swapped_mid_answer}) | {len(soak.refused)} | {memory} | "
        f"{counters.get('phrases', '–')} / {counters.get('answers', '–')} / "
        f"{counters.get('barge_ins', '–')} | {verdict(ok)} |",
    ]
    lines += [f"- refused: {reason}" for reason in soak.refused[:5]]
    return lines
