"""The daemon's tests: this folder holds their shared helpers (`daemon_fakes`,
`daemon_helpers`), importable from every room's tests because pytest puts a conftest's
folder on sys.path."""
