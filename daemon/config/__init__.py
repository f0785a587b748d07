"""Configuration: what `antiphon run` plays by, and where its files live.

    config_fields.py  the table of options: every option once, as a field with its help
    option_names.py   each option's flags, TOML key and variables, by rule; ConfigError
    values.py         one value read for its option's type (text, TOML, OSC)
    config_checks.py  the options' checks, alone and together; what the daemon reads of them
    cc_map.py         the CC map, a config value: knobs of a controller onto live options
    daemon_config.py  DaemonConfig: the table with every check, the CC map's included
    loading.py        the layers (defaults < TOML file < ANTIPHON_* < flags), read and checked
    numbers.py        numbers as a user wrote them, and as they are shown back
    toml_file.py      the commented config file `antiphon config init` writes
    editing.py        one option changed in a user's file, its other lines kept (`learn`)
    paths.py          the user's folders (platformdirs): config, models, the control socket
    models.py         model names to files: the user's models, then the shipped ones
    private_folder.py a folder only the user can change, and the files opened inside it

Each module imports only those listed before it, and numbers.py and paths.py (which import
none of them): tests/test_import_cycles.py checks there is no cycle.
May import the engine, daemon.midi and daemon.play; never daemon.control, daemon.service,
the CLI or the benchmarks (they all read the configuration; it reads none of them).
"""
