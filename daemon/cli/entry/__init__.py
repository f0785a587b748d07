"""Installed as the top-level `antiphon` package (see pyproject's package-dir), so that
`python -m antiphon` runs the command. The subpackages are the repository's folders:
`antiphon.engine` is engine/, `antiphon.daemon` daemon/, `antiphon.training` training/."""
