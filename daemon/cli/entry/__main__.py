"""`python -m antiphon` is the `antiphon` command."""

from antiphon.console import main

main()
