from typer.testing import CliRunner

from antiphon.daemon.cli import app

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
