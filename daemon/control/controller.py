"""What a running daemon can be asked while it plays: the commands behind the control
socket (`antiphon status`, `set`, `model`, `panic`, `reload`, `learn`, `knobs`), OSC and
SIGHUP.

A request is a small dict (`{"command": "set", "key": "temperature", "value": "0.8"}`), an
answer a dict with `ok` and either the result or `error`, so the socket and OSC speak the
same commands. Every change is checked exactly as the config is (a new `DaemonConfig`
validates it) and refused whole when anything in it is wrong: what plays keeps playing.
A new model is loaded beside the old one, on the caller's thread; only when it loaded
(and passed its trial step) does the interaction loop switch to it, between two answers.

The Controller steers the daemon through `DaemonControls` (steering.py) and nothing else:
it never reaches into the daemon's loop, scheduler, gate or clock. Everything it works with
comes through its constructor: the daemon, how to re-read the config and load a model, the
knobs (`learn` waits on them) and OSC (its address and counters join the status).
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
import sys
import threading
import time
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from antiphon.daemon.config.cc_map import fixed_meaning_warnings
from antiphon.daemon.config.daemon_config import (
    LIVE_OPTIONS,
    ConfigError,
    DaemonConfig,
    field_names,
)
from antiphon.daemon.config.loading import coerce_value
from antiphon.daemon.config.models import check_program_models
from antiphon.daemon.control.knob_commands import KNOB_COMMANDS, knob_command
from antiphon.daemon.control.knobs import Knobs
from antiphon.daemon.control.steering import DaemonControls, DaemonStatus
from antiphon.daemon.play.loop_parts import AnswerSession
from antiphon.daemon.record.recorder import TakeRecorder
from antiphon.engine.memory import return_freed_memory

log = logging.getLogger(__name__)

COMMANDS = ("status", "set", "model", "panic", "reload", *KNOB_COMMANDS)
# `antiphon set KEY none` sets an optional option back to its default (scale: auto, not
# chromatic); `default` does so for any option.
NONE_WORDS = frozenset({"", "none", "null", None})
DEFAULTS = {field.name: field.default for field in dataclasses.fields(DaemonConfig)}
OPTIONAL = frozenset(name for name, hint in typing.get_type_hints(DaemonConfig).items()
                     if type(None) in typing.get_args(hint))


class ControlError(ValueError):
    """A request that cannot be carried out; the message says why, for the user."""


def resident_kb(pid: int) -> int:
    """VmRSS of a process from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise OSError(f"no VmRSS for process {pid}")


def percentiles_ms(seconds: Iterable[float], points: tuple[int, ...] = (50, 95, 99)) -> dict:
    """{"p50": ms, ..., "max": ms, "count": n} of a sample in seconds (empty: count 0)."""
    values = np.fromiter(seconds, dtype=float)
    if values.size == 0:
        return {"count": 0}
    found = {f"p{point}": round(float(np.percentile(values, point)) * 1e3, 3)
             for point in points}
    return found | {"max": round(float(values.max()) * 1e3, 3), "count": int(values.size)}


class OscListening(Protocol):
    """What the status shows of OSC (control/osc.py's OscControl)."""

    address: str  # "host:port"
    stats: Any  # an OscStats: its counters() join the status's


class Controller:
    """Carries out control requests on a running daemon (one at a time)."""

    def __init__(
        self,
        daemon: DaemonControls,
        reread_config: Callable[[], DaemonConfig],
        load_model: Callable[[DaemonConfig], AnswerSession],
        socket_path: str | None = None,
        *,
        knobs: Knobs | None = None,
        osc: OscListening | None = None,
        recorder: TakeRecorder | None = None,
    ) -> None:
        self.daemon = daemon
        self.recorder = recorder  # the take being recorded, shown in the status; None: none
        self._reread_config = reread_config
        self._load_model = load_model
        self.socket_path = socket_path
        self.osc_address: str | None = osc.address if osc is not None else None
        self.osc_stats = osc.stats if osc is not None else None  # counters for the status
        self.knobs = knobs  # the Knobs thread that `learn` waits on; None: no knobs
        self.started = time.monotonic()
        self.reloads = 0
        self.model_swaps = 0
        self._lock = threading.Lock()  # socket clients, OSC and SIGHUP take turns

    def handle(self, request: Mapping[str, Any]) -> dict:
        """Carry out one request; never raises for a bad request (the answer says why)."""
        command = request.get("command")
        if command in KNOB_COMMANDS:  # a learn waits for a hand on a knob: not in the lock
            return knob_command(self, request)
        try:
            if command == "status":  # reads only: never waits for a model load or the loop
                return {"ok": True, "status": self.status()}
            with self._lock:
                if command == "set":
                    return {"ok": True} | self._set(str(request.get("key", "")),
                                                    request.get("value"))
                if command == "model":
                    return {"ok": True} | self._swap_model(request.get("name"))
                if command == "panic":
                    return {"ok": True} | self._panic()
                if command == "reload":
                    return {"ok": True} | self._reload()
            asked = "no command given" if command is None else f"unknown command {command!r}"
            raise ControlError(f"{asked} (one of {', '.join(COMMANDS)})")
        except (ControlError, ConfigError) as err:
            return {"ok": False, "error": str(err)}
        except TimeoutError:
            return {"ok": False, "error": "the interaction loop did not take the change within "
                    "30 s (it is stuck, or sampling a very long answer); it may still take it"}
        except Exception as err:  # a request must never end the daemon (SIGHUP comes here)
            log.error("control request %r failed: %s: %s", command, type(err).__name__, err)
            log.debug("the failed request's traceback", exc_info=True)
            return {"ok": False, "error": f"internal error: {err}"}

    def config_origin(self, name: str) -> str:
        """Where option `name` came from at the latest read of the config: "command line",
        "environment ANTIPHON_X", "file PATH", "default"; "" when unknown."""
        return (getattr(self._reread_config, "sources", None) or {}).get(name, "")

    def config_file(self) -> str | None:
        """The config file the daemon reads (at a reload too), if any."""
        path = getattr(self._reread_config, "file", None)
        return None if path is None else str(path)

    # -- commands ---------------------------------------------------------------------------
    def _set(self, key: str, value: Any) -> dict:
        name = key.strip().replace("-", "_").lower()
        if name == "model":
            return self._swap_model(value)
        if name not in field_names():
            close = (difflib.get_close_matches(name, LIVE_OPTIONS, n=1)
                     or difflib.get_close_matches(name, field_names(), n=1))
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ControlError(f"no option {key!r}{hint} (live: {', '.join(LIVE_OPTIONS)})")
        if name not in LIVE_OPTIONS:
            raise ControlError(
                f"{name} is read once, at start: change it in the config file and restart "
                f"the daemon (live options: {', '.join(LIVE_OPTIONS)})")
        word = value.strip().casefold() if isinstance(value, str) else value
        unset = value is None or isinstance(value, str) and word in NONE_WORDS
        if word == "default" or (unset and DEFAULTS[name] is not None and name in OPTIONAL):
            parsed = DEFAULTS[name]  # `set scale none` is scale's default, auto
        elif unset and name in OPTIONAL:
            parsed = None  # none where none is a value (max_polyphony: no limit)
        elif unset:
            raise ConfigError(name, f"always has a value, got {value!r}: give one, or "
                              f"'default' for its default ({DEFAULTS[name]!r})")
        else:
            parsed = coerce_value(name, value, "antiphon set", from_text=isinstance(value, str))
        current = self.daemon.config
        new = _replaced(current, name, parsed)  # validates, as the config does
        if name == "program_models":
            check_program_models(new)  # each model loads, before anything changes
        if name == "bpm":
            followed = self.daemon.followed_tempo()
            if followed is not None:
                raise ControlError(f"the tempo follows the MIDI clock ({followed:.1f} BPM "
                                   "now): bpm is the tempo while no clock comes")
            self.daemon.propose_tempo(parsed)  # a Link session's peers may have moved it
        self.daemon.apply_config(new)
        if name == "cc_map" and self.knobs is not None:  # the map set wins over learnt knobs
            self.knobs.keep_learned_in(self.daemon.config)
        # A panic or end knob on volume, a pedal...: taken (a number has no room for "!"),
        # and said, as at start and at a reload.
        warnings = [warning for warning in fixed_meaning_warnings(new)
                    if warning not in fixed_meaning_warnings(current)]
        for warning in warnings:
            log.warning("set %s: %s", name, warning)
        return {"key": name, "value": getattr(self.daemon.config, name)} | (
            {"warnings": warnings} if warnings else {})

    def _swap_model(self, name: Any) -> dict:
        if name is not None and not isinstance(name, str):
            raise ControlError(f"a model is a name or an .onnx path, got {name!r}")
        wanted = dataclasses.replace(self.daemon.config, model=name or None)
        session = self._open_model(wanted)
        old = self.daemon.swap_session(session, wanted.model)
        self.model_swaps += 1
        card = session.model.card
        log.info("model swapped: %s (%s) -> %s (%s)", old.model.card.name,
                 old.model.card.family, card.name, card.family)
        del old
        return_freed_memory()
        return {"model": describe_model(session, wanted.model)}

    def _open_model(self, config: DaemonConfig) -> AnswerSession:
        try:
            return self._load_model(config)
        except Exception as err:  # whatever a bad file raises, the old model keeps playing
            log.warning("model %r refused: %s", config.model or "default", err)
            raise ControlError(f"model {config.model or 'default'!r} refused, the old one "
                               f"keeps playing: {err}") from err

    def _panic(self) -> dict:
        released = self.daemon.panic()  # now, and the answer being sampled dropped too
        log.warning("panic: %d notes released, all notes off", released)
        return {"released": released}

    def _reload(self) -> dict:
        """Re-read the config (file, environment, the command line's options); apply what
        can change live, swap the model if it changed; refuse all of it if any is bad."""
        try:
            new = self._reread_config()
        except Exception as err:  # a ConfigError, or whatever a file's bytes can raise
            log.warning("reload refused, the old config keeps playing: %s", err)
            raise ControlError(f"reload refused, the old config keeps playing: {err}") from err
        if self.knobs is not None:  # a learnt knob outlives a reload under a flag's map
            new = self.knobs.with_learned(new, self.config_origin("cc_map"))
        try:
            check_program_models(new)  # a file may have gone or changed since the start
        except ConfigError as err:
            log.warning("reload refused, the old config keeps playing: %s", err)
            raise ControlError(f"reload refused, the old config keeps playing: {err}") from err
        session = None
        if new.model != self.daemon.config.model:
            session = self._open_model(new)  # before anything changes: all or nothing
        applied, needs_restart = self.daemon.apply_config(new)
        if session is not None:
            self.daemon.swap_session(session, new.model)
            self.model_swaps += 1
            applied.append("model")
            return_freed_memory()
        self.reloads += 1
        if needs_restart:
            log.warning("reload: %s changed but only take effect at a restart",
                        ", ".join(needs_restart))
        log.info("reloaded: %s", ", ".join(applied) or "nothing changed")
        return {"applied": applied, "needs_restart": needs_restart}

    # -- status -----------------------------------------------------------------------------
    def brief(self) -> dict:
        """The part of the status that changes as it plays, cheap to ask often (OSC)."""
        now = self.daemon.snapshot()
        stats = now.loop
        return {
            "mode": now.mode,
            "model": {"name": now.config.model or "default"},
            "counters": {"phrases": stats.phrases_heard, "answers": stats.answers_finished,
                         "barge_ins": stats.barge_ins, "late_answers": stats.late_answers},
            "settings": {name: getattr(now.config, name) for name in LIVE_OPTIONS},
        }

    def status(self) -> dict:
        now = self.daemon.snapshot()
        config, ports = now.config, now.ports
        loop, scheduler, gate = now.loop, now.scheduler, now.gate
        return {
            "pid": os.getpid(),
            "uptime_seconds": round(time.monotonic() - self.started, 1),
            "resident_mb": round(_own_resident_kb() / 1024, 1),
            "mode": now.mode,
            "model": describe_model(now.session, config.model),
            "tempo": {key: value for key, value in now.tempo.items() if key != "latency"},
            # How early the answer leaves and how far back the pulses are timed, and why.
            "latency": now.tempo.get("latency"),
            "clock_out": clock_out_state(now, ports),
            "ports": ports,
            "counters": {
                "phrases": loop.phrases_heard, "answers": loop.answers_finished,
                "barge_ins": loop.barge_ins, "late_answers": loop.late_answers,
                "late_events": loop.late_events, "received": gate.received,
                "shed": gate.shed, "other_channels": gate.other_channels,
                "echoes": gate.echoes, "foreign_clock": gate.foreign_clock,
                "sent": scheduler.sent, "late_sends": scheduler.late,
                "released": scheduler.released, "reloads": self.reloads,
                "model_swaps": self.model_swaps,
            } | (self.osc_stats.counters() if self.osc_stats is not None else {}),
            "answer_latency_ms": percentiles_ms(_copy(loop.latency_seconds)),
            "generation_ms": percentiles_ms(_copy(loop.generation_seconds)),
            "send_error_ms": percentiles_ms(_copy(scheduler.recent_errors)),
            "settings": {name: getattr(config, name) for name in LIVE_OPTIONS},
            "record": record_state(self.recorder),
            "control_socket": self.socket_path,
            "osc": self.osc_address,
        }


def record_state(recorder: TakeRecorder | None) -> dict:
    """The take being recorded as a status shows it: its id and folder, and why it stopped
    (a full disk) when it did; {"recording": False} without a recorder (--no-record)."""
    if recorder is None:
        return {"recording": False}
    return {"recording": recorder.recording, "take": recorder.take_id,
            "folder": str(recorder.folder), "failure": recorder.failure}


def _replaced(current: DaemonConfig, name: str, value: Any) -> DaemonConfig:
    """`current` with option `name` set to `value`; a refusal names `name`, the option
    being set, even when the check at fault is another's (`set highest_pitch 10` under
    lowest_pitch 60 is highest_pitch's fault; `set lowest_pitch 100` under highest_pitch 90
    is lowest_pitch's, not the untouched highest_pitch's)."""
    try:
        return dataclasses.replace(current, **{name: value})
    except ConfigError as err:
        if err.field in (None, name):
            raise
        other = getattr(current, err.field)
        raise ConfigError(name, f"{value!r} does not fit {err.field} = {other!r} "
                          f"({err.problem})") from None


def clock_out_state(status: DaemonStatus, ports: dict) -> dict:
    """Whether MIDI clock goes out (--clock-out), through which port to which, and how
    close to their due times its pulses left (sent - due, and |each interval's error|)."""
    clock_out = status.clock_out
    if clock_out is None:
        return {"on": False}
    port = ports.get("clock_out") or {"port": clock_out.port_name, "state": "open"}
    stats = clock_out.stats
    return {"on": True, **port, **clock_out.describe(),
            "send_error_ms": percentiles_ms(_copy(stats.recent_errors)),
            "interval_error_ms": percentiles_ms(
                abs(error) for error in _copy(stats.recent_interval_errors))}


def describe_model(session: AnswerSession, name: str | None) -> dict:
    model = session.model
    card = model.card
    return {"name": name or "default", "card_name": card.name, "family": card.family,
            "representation": card.representation, "path": str(model.path),
            "device": model.device}


def _own_resident_kb() -> int:
    try:
        return resident_kb(os.getpid())
    except OSError:  # no /proc (macOS): the peak is the best the platform tells
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak // 1024 if sys.platform == "darwin" else peak  # bytes there, kB here


def _copy(values) -> list[float]:
    """A snapshot of a deque another thread appends to (retried: a copy that met an
    append mid-way raises)."""
    for _ in range(3):
        try:
            return list(values)
        except RuntimeError:
            continue
    return []
