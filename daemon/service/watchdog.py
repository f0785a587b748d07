"""What the service manager hears while the daemon serves: its watchdog patted at half its
interval while every thread lives and the MIDI system answers, and the status line
(`systemctl status`) sent when it changed, at most every STATUS_SECONDS.
"""

from __future__ import annotations

import time

from antiphon.daemon.service.systemd import Notifier

STATUS_SECONDS = 2.0  # the service manager's status line changes at most this often


class ServiceWatch:
    """Pats the service manager's watchdog at half its interval (while `alive`), and sends
    the status line when it changed (at most every STATUS_SECONDS)."""

    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier
        interval = notifier.watchdog_interval
        self._pat_every = None if interval is None else interval / 2
        self._last_pat = self._last_status_time = time.monotonic()
        self._last_status = ""

    def tick(self, status: str, alive: bool) -> None:
        now = time.monotonic()
        if self._pat_every is not None and alive and now - self._last_pat >= self._pat_every:
            self._notifier.watchdog()
            self._last_pat = now
        if status != self._last_status and now - self._last_status_time >= STATUS_SECONDS:
            self._notifier.status(status)
            self._last_status, self._last_status_time = status, now
