import pytest

from antiphon.daemon.play.clock import Clock, beats_to_ticks, ticks_to_beats


class FakeTime:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_beats_follow_the_tempo():
    time = FakeTime()
    clock = Clock(120, time_source=time)
    assert clock.now_beats() == 0.0
    time.now += 1.5
    assert clock.now_beats() == pytest.approx(3.0)
    assert clock.seconds_per_beat == pytest.approx(0.5)


def test_seconds_and_beats_round_trip():
    clock = Clock(93.5, origin_seconds=10.0)
    for beats in (0.0, 0.25, 7.0, 1234.5):
        assert clock.beats_at(clock.seconds_at(beats)) == pytest.approx(beats)
    assert clock.seconds_at(0.0) == 10.0


def test_tempo_change_keeps_the_beat_position_continuous():
    time = FakeTime()
    clock = Clock(120, time_source=time)
    time.now += 2.0  # beat 4
    clock.set_bpm(60)
    assert clock.now_beats() == pytest.approx(4.0)
    time.now += 1.0  # one beat at 60 BPM
    assert clock.now_beats() == pytest.approx(5.0)
    assert clock.bpm == pytest.approx(60)
    assert clock.seconds_at(4.0) == pytest.approx(102.0)


def test_bad_tempo_is_rejected():
    with pytest.raises(ValueError, match="tempo"):
        Clock(0)
    clock = Clock(120)
    with pytest.raises(ValueError, match="tempo"):
        clock.set_bpm(1000)


def test_ticks():
    assert beats_to_ticks(1.0) == 24
    assert beats_to_ticks(0.51) == 12
    assert ticks_to_beats(36) == 1.5
