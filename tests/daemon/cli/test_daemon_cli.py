import mido
from typer.testing import CliRunner

from antiphon.daemon.cli.app import app

runner = CliRunner()


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("ports", "run", "demo"):
        assert command in result.output


def test_bad_option_is_a_usage_error_naming_it():
    result = runner.invoke(app, ["run", "--bpm", "0"])
    assert result.exit_code == 2
    assert "--bpm" in result.output and "got 0" in result.output


def test_bad_environment_value_is_a_usage_error_naming_it():
    result = runner.invoke(app, ["run"], env={"ANTIPHON_TEMPERATURE": "hot"})
    assert result.exit_code == 2
    assert "ANTIPHON_TEMPERATURE" in result.output


def test_bad_backend_for_ports():
    result = runner.invoke(app, ["ports", "--backend", "oss"])
    assert result.exit_code == 2
    assert "backend must be one of" in result.output


def test_bad_demo_transport():
    result = runner.invoke(app, ["demo", "--transport", "pigeon"])
    assert result.exit_code == 2
    assert "--transport" in result.output


def test_every_shipped_model_plays_in_the_demo(tmp_path):
    """`--model NAME` switches to any shipped model, token or piano-roll alike."""
    from antiphon.exported_models import available_models

    for name in available_models():
        out = tmp_path / f"{name}.mid"
        result = runner.invoke(app, ["demo", "--transport", "loopback", "--model", name,
                                     "--seed", "3", "--output", str(out)])
        assert result.exit_code == 0, f"{name}: {result.output}"
        assert "answer" in result.output and out.is_file()
        tracks = mido.MidiFile(out).tracks
        assert any(m.type == "note_on" and m.velocity for m in tracks[-1]), name
