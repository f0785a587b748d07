"""The DAW's transport, as the interaction loop follows it (with a MIDI clock).

A MIDI Stop silences the answer and, unless the player asked to be answered while the
DAW is stopped, stops answering until Start or Continue. Start, Continue and a Song
Position move the beat count (from the clock's next pulse): what was planned on the old
count would sound at the wrong time, or never let go, so it is released and the state
machine waits for the player again. The loop's thread calls this; nothing here waits.
"""

from __future__ import annotations

import logging

from antiphon.daemon.play.interaction import CallAndResponse, Mode
from antiphon.daemon.play.scheduler import OutputScheduler

log = logging.getLogger(__name__)

MIDI_START, MIDI_CONTINUE, MIDI_STOP, SONG_POSITION = 0xFA, 0xFB, 0xFC, 0xF2
TRANSPORT_MESSAGES = frozenset({MIDI_START, MIDI_CONTINUE, MIDI_STOP, SONG_POSITION})


def follow_transport(status: int, running: bool, scheduler: OutputScheduler,
                     machine: CallAndResponse, discard_drawn) -> bool:  # noqa: ANN001
    """Act on one transport message (its status byte); returns whether the transport runs
    now. `discard_drawn`: drops answers drawn ahead on the old count."""
    if status == MIDI_STOP:
        released = scheduler.cancel_and_release()
        machine.drop_answer()  # a call being played goes on being heard
        log.info("MIDI Stop: %d notes released; not answering until Start or Continue",
                 released)
        return False
    if status in (MIDI_START, MIDI_CONTINUE):
        running = True
    if machine.mode is not Mode.IDLE or scheduler.pending():
        released = scheduler.cancel_and_release()
        discard_drawn()
        machine.restart()
        log.info("MIDI %s: the DAW's position moved; %d notes released, listening again",
                 {MIDI_START: "Start", MIDI_CONTINUE: "Continue"}.get(status, "song position"),
                 released)
    return running
