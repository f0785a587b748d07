"""The `learn` and `knobs` control commands (`antiphon learn`, `antiphon knobs`): a learn
waits on the knobs thread (knobs.py) for the next controller moved and maps it; `knobs`
lists the map and can send each knob's value back to a controller's LED rings.

They run for the Controller outside its lock (a learn waits for a hand on a knob) and go
through it for every change (`set cc_map`), so the same checks hold as for any setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from antiphon.daemon.config.cc_map import (
    DEFAULT_SPECS,
    INSIST,
    feedback_messages,
    make_knob,
    parse_cc_map,
    with_knob,
)
from antiphon.daemon.config.daemon_config import ConfigError, shown_number
from antiphon.daemon.control.knobs import (
    KnobError,
    Knobs,
    log,  # a learn's lines are the knobs'
)
from antiphon.daemon.control.socket_server import current_client_gone
from antiphon.daemon.control.steering import DaemonControls

KNOB_COMMANDS = ("learn", "knobs")
LEARN_TIMEOUT_LIMIT = 600.0  # seconds a learn may wait for a knob


class KnobCommandHost(Protocol):
    """What the commands need of the Controller."""

    @property
    def daemon(self) -> DaemonControls: ...

    @property
    def knobs(self) -> Knobs | None: ...

    def handle(self, request: Mapping[str, Any]) -> dict: ...

    def config_origin(self, name: str) -> str: ...

    def config_file(self) -> str | None: ...


def knob_command(controller: KnobCommandHost, request: Mapping[str, Any]) -> dict:
    """Carry out `learn` or `knobs` for the Controller (outside its lock: a learn waits for
    a hand on a knob). Never raises for a bad request: the answer says why."""
    try:
        if request.get("command") == "learn":
            return {"ok": True} | _learn(controller, request)
        return {"ok": True} | _list_knobs(controller, bool(request.get("send")))
    except (KnobError, ConfigError) as err:
        return {"ok": False, "error": str(err)}


def _learn(controller: KnobCommandHost, request: Mapping[str, Any]) -> dict:
    knobs = controller.knobs
    if knobs is None:
        raise KnobError("this daemon takes no knobs (it has no control input)")
    setting = str(request.get("key", "")).strip().replace("-", "_").lower()
    spec = request.get("range")
    asked = request.get("timeout", 30.0)
    try:
        if isinstance(asked, bool):  # JSON's true is no number of seconds
            raise TypeError(asked)
        timeout = float(asked)
    except (TypeError, ValueError, OverflowError):
        shown = repr(asked) if len(repr(asked)) <= 40 else f"{repr(asked)[:40]}..."
        raise KnobError(f"a timeout is a number of seconds, got {shown}") from None
    written = asked.strip() if isinstance(asked, str) and _is_decimal(asked) else None
    exact = (Decimal(written) if written else
             Decimal(timeout) if _is_decimal(repr(timeout)) else None)  # nan, inf: None
    # 600.00000000000000001 is 600.0 once a float, 1e-400 is 0.0: each refused as written.
    if exact is None or not 0 < exact <= LEARN_TIMEOUT_LIMIT or timeout <= 0:
        raise KnobError(f"a timeout is more than 0 and at most {LEARN_TIMEOUT_LIMIT:g} s, got "
                        f"{written or shown_number(timeout)}")
    config = controller.daemon.config
    if spec is None:  # the setting's knob as mapped now, else its usual one
        mapped = [knob.spec for knob in config.knob_map() if knob.setting == setting]
        spec = mapped[0] if mapped else DEFAULT_SPECS.get(setting, "")
    spec = str(spec)
    try:
        make_knob(setting, 0, spec, f"{setting} {spec}".strip(), insisted=True)  # before a turn
    except ConfigError as err:
        raise KnobError(err.problem) from None
    fixed_too = request.get("fixed_cc") is True
    cc = knobs.learn(timeout, f"learning: the next knob turned sets {setting} ({spec})",
                     current_client_gone, fixed_too)
    if cc is None:
        raise KnobError(f"no knob moved within {timeout:g} s: nothing learned")
    knob = make_knob(setting, cc, spec, f"{setting}={cc}{INSIST if fixed_too else ''}:{spec}",
                     insisted=fixed_too)
    cc_map, replaced = with_knob(controller.daemon.config.cc_map, knob)
    answer = controller.handle({"command": "set", "key": "cc_map", "value": cc_map})
    if not answer["ok"]:
        raise KnobError(f"CC {cc} cannot set {setting}: {answer['error']}")
    for old in parse_cc_map(", ".join(replaced)) if replaced else ():
        knobs.learned.pop(old.setting, None)
    knobs.learned[setting] = knob
    map_from = controller.config_origin("cc_map")
    log.info("learned: CC %d sets %s (%s)%s", cc, setting, knob.spec,
             f"; replaced {', '.join(replaced)}" if replaced else "")
    if map_from.startswith(("command line", "environment")):
        log.warning("learned knob %s: the map comes from the %s, which wins over the config "
                    "file at a start: kept at reloads, gone at the next start unless added "
                    "there", knob.entry, map_from)
    return {"learned": {"setting": setting, "cc": cc, "spec": knob.spec, "entry": knob.entry},
            "replaced": replaced, "cc_map": cc_map, "cc_map_from": map_from,
            "config_file": controller.config_file()}


def _is_decimal(text: str) -> bool:
    """Whether `text` is a finite decimal number (not nan, inf or junk)."""
    try:
        return Decimal(text.strip()).is_finite()
    except InvalidOperation:
        return False


def _list_knobs(controller: KnobCommandHost, send: bool) -> dict:
    daemon = controller.daemon
    config = daemon.config
    knobs = config.knob_map()
    listed = [{"setting": knob.setting, "cc": knob.cc, "spec": knob.spec,
               "value": getattr(config, knob.setting),
               "cc_value": knob.cc_value_of(getattr(config, knob.setting))} for knob in knobs]
    heard_on = controller.knobs.heard_on if controller.knobs is not None else None
    feedback = feedback_messages(config, knobs, heard_on)
    sent = daemon.send_controls(feedback) if send else 0
    return {"knobs": listed, "sent": sent,
            "feedback_channels": sorted({(status & 0x0F) + 1 for status, _, _ in feedback}),
            "knob_channels": sorted(config.knob_channels())}
