"""Installed as the top-level `antiphon` package (see pyproject's package-dir), so that
`python -m antiphon` runs the command. The subpackages are the repository's folders:
`antiphon.engine` is engine/, `antiphon.daemon` daemon/, `antiphon.training` training/.

Importing any of them runs this first, which is why the one network switch lives here.
"""

import os

# onnxruntime >= 1.29 (its official Linux and macOS wheels) starts a telemetry uploader when
# it is imported: a device id under ~/.cache, then DNS queries and uploads while the process
# runs. An instrument makes no network traffic unless its user asks; this variable is the
# only switch that stops it (disable_telemetry_events() does not), and it must be set before
# onnxruntime is imported. tests/e2e/test_no_network.py watches for it.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
