"""Configuration: what `antiphon run` plays by, and where its files live.

    daemon_config.py  DaemonConfig, the one dataclass of every option, and its checks
    loading.py        the layers (defaults < TOML file < ANTIPHON_* < flags), read and checked
    numbers.py        numbers as a user wrote them, and as they are shown back
    toml_file.py      the config file, read and written without losing a user's comments
    editing.py        `antiphon config set/unset`: one option changed in the file
    cc_map.py         the CC map, a config value: knobs of a controller onto live options
    paths.py          the user's folders (platformdirs): config, models, the control socket
    models.py         model names to files: the user's models, then the shipped ones

May import the engine, daemon.midi and daemon.play; never daemon.control, daemon.service,
the CLI or the benchmarks (they all read the configuration; it reads none of them).
"""
