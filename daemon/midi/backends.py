"""The MIDI systems Antiphon can open, by the names options use; importable without
python-rtmidi, so the config and the command line can check a name before any port opens."""

# python-rtmidi's APIs by option name; "auto" takes the first that has ports here.
BACKEND_NAMES = ("auto", "alsa", "jack", "coremidi", "winmm")
