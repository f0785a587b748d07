"""What the commands that answer a call offline share (`antiphon continue`, `antiphon eval
answers`): the settings an answer is sampled with, so both sample as `antiphon run` would
answer the call played live."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from antiphon.daemon.config.daemon_config import DaemonConfig
    from antiphon.daemon.play.loop_parts import LoopSettings


def answer_settings(options: DaemonConfig) -> LoopSettings:
    """The settings an offline answer is sampled with: the config's, the file's beats the
    grid, as a clock the band shares is live."""
    from antiphon.daemon.service.parts import loop_settings

    return loop_settings(options, shares_clock=True)
