"""MessageTaps hands each call on to every tap it holds; no taps, no object at all."""

from antiphon.daemon.play.message_taps import taps_of
from antiphon.daemon.play.timing_trace import TimingTrace


class KeptCalls:
    """A tap that keeps what it is told, in order."""

    def __init__(self):
        self.calls = []

    def received(self, arrived, message, kept):
        self.calls.append(("received", arrived, tuple(message), kept))

    def sent(self, due, message):
        self.calls.append(("sent", due, tuple(message)))

    def answer(self, decided, first_scheduled, first_due, keeps):
        self.calls.append(("answer", decided, first_scheduled, first_due, keeps))


def test_every_tap_hears_every_call_in_order():
    trace, kept = TimingTrace(), KeptCalls()
    taps = taps_of(trace, None, kept)
    taps.received(1.0, [0x90, 60, 100], True)
    taps.sent(2.0, (0x91, 62, 90))
    taps.sent(None, (0x81, 62, 0))
    taps.answer(1.5, 1.6, 2.0, "C major")
    assert kept.calls == [("received", 1.0, (0x90, 60, 100), True),
                          ("sent", 2.0, (0x91, 62, 90)), ("sent", None, (0x81, 62, 0)),
                          ("answer", 1.5, 1.6, 2.0, "C major")]
    assert list(trace.receives) == [(1.0, (0x90, 60, 100), True)]
    assert [(due, message) for due, _, message in trace.sends] == [
        (2.0, (0x91, 62, 90)), (None, (0x81, 62, 0))]
    assert trace.answers == [(1.5, 1.6, 2.0)]


def test_no_taps_means_nothing_to_call():
    assert taps_of(None, None) is None
