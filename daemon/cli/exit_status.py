"""The exit statuses the `antiphon` command shares with its entry point, in a module that
imports nothing: the entry point reads it before the command line is loaded."""

FORCED_EXIT = 130  # as a shell reports a process ended by Ctrl-C
