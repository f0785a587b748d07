"""`--output-latency-ms`: auto (None) unless set, from a file, the environment or the command
line alike, and held to 0..1000 ms, the refusal naming the option."""

from __future__ import annotations

import pytest

from antiphon.daemon.config.daemon_config import ConfigError, DaemonConfig
from antiphon.daemon.config.loading import load_config


def test_auto_unless_set():
    assert DaemonConfig().output_latency_ms is None


def test_set_from_a_file_the_environment_or_the_command_line(tmp_path):
    file = tmp_path / "antiphon.toml"
    file.write_text("output_latency_ms = 4.5\n")
    assert load_config(file, {}).output_latency_ms == 4.5
    assert load_config(None, {"ANTIPHON_OUTPUT_LATENCY_MS": "12"}).output_latency_ms == 12.0
    assert load_config(None, {}, {"output_latency_ms": 0.0}).output_latency_ms == 0.0


@pytest.mark.parametrize("value", [-0.5, 1000.5])
def test_out_of_range_is_refused_by_its_name(value):
    with pytest.raises(ConfigError, match="--output-latency-ms"):
        DaemonConfig(output_latency_ms=value)
