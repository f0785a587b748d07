"""The Antiphon daemon: MIDI in, call and response, MIDI out, on time.

    ports.py / loopback.py   MIDI ports (python-rtmidi; in-process for the demo and tests)
    clock.py                 musical time: perf_counter seconds <-> beats at a tempo
    interaction.py           the call-and-response state machine (pure: no threads, no I/O)
    interaction_loop.py      the thread that drives it: input queue -> model -> scheduler
    scheduler.py             the output thread: each message at its due time; releases
    service.py / signals.py  wiring and lifecycle (`antiphon run`), Ctrl-C / SIGTERM
    config.py                DaemonConfig: CLI options = TOML keys = ANTIPHON_* variables
    demo.py / demo_report.py `antiphon demo`: a built-in call, the answer, a .mid, a summary
    cli.py                   the `antiphon` command (typer)
"""
