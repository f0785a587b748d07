"""The daemon's configuration: one frozen dataclass, fed by defaults < TOML file <
environment (`ANTIPHON_*`) < command line, in that order of precedence.

Every field is one option of `antiphon run`, declared once in the table of options
(config_fields.py): field `bpm` is `--bpm`, the TOML key `bpm` and the variable
`ANTIPHON_BPM`; `in_port` is `--in` (also `--in-port`), `in_port` and `ANTIPHON_IN_PORT`
(also `ANTIPHON_IN`). DaemonConfig is that table with every check: the options' own and
against each other (config_checks.py), and the CC map's (cc_map.py, which checks each
knob's values with the options' own checks). A bad value raises ConfigError naming the
option and where it came from. The layers are read by loading.py.

The names the rest of Antiphon reads beside the class are here too, wherever they are
declared.
"""

from __future__ import annotations

from dataclasses import dataclass

from antiphon.daemon.config.cc_map import check_cc_map
from antiphon.daemon.config.config_checks import FIRST_MODE_CC, CheckedConfig
from antiphon.daemon.config.config_fields import BEATS_PER_BAR
from antiphon.daemon.config.numbers import shown_number
from antiphon.daemon.config.option_names import (
    LIVE_OPTIONS,
    ConfigError,
    cli_flag,
    describe_option,
    env_name,
    field_names,
)

__all__ = ["BEATS_PER_BAR", "FIRST_MODE_CC", "LIVE_OPTIONS", "ConfigError", "DaemonConfig",
           "cli_flag", "describe_option", "env_name", "field_names", "shown_number"]


@dataclass(frozen=True)
class DaemonConfig(CheckedConfig):
    """Every option of `antiphon run`, checked as a whole (the CC map included)."""

    def _check_knobs(self) -> None:
        if self.cc_map is not None:
            self.knob_map()

    def knob_map(self) -> tuple:
        """The knobs of `cc_map` (cc_map.Knob), checked; ConfigError naming cc_map."""
        return check_cc_map(self)
