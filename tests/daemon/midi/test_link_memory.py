"""jack_links.LinkMemory: the connections others made to Antiphon's ports are remembered
while the MIDI system is there, and made again after it died, once both ends are back."""

from __future__ import annotations

from antiphon.daemon.midi.jack_links import LinkMemory
from antiphon.daemon.midi.port_kinds import NOTES_IN, NOTES_OUT


class FakeLinks:
    def __init__(self, connections: set[tuple[str, str]]) -> None:
        self.connections = connections  # (source, destination)
        self.made: list[tuple[str, str]] = []

    def peers(self, own_port: str) -> list[str]:
        return [b if a == own_port else a for a, b in self.connections if own_port in (a, b)]

    def connect(self, source: str, destination: str) -> bool:
        self.made.append((source, destination))
        self.connections.add((source, destination))
        return True


OWN = {NOTES_IN: "Antiphon In:in", NOTES_OUT: "Antiphon Out:out"}


def test_connections_are_made_again_when_both_ends_are_back():
    links = FakeLinks({("keys:out", "Antiphon In:in"), ("Antiphon probe:probe", "Antiphon In:in"),
                       ("Antiphon Out:out", "synth:in"), ("Antiphon Out:out", "rec:in")})
    memory = LinkMemory()
    memory.look(links, OWN)
    memory.lost()
    after = FakeLinks(set())  # a new server: no connection at all
    memory.restore(after, OWN, sources=["Antiphon Out:out"], destinations=["synth:in"])
    assert after.made == [("Antiphon Out:out", "synth:in")]  # the keyboard is not back yet
    memory.restore(after, OWN, sources=["keys:out", "Antiphon Out:out"],
                   destinations=["synth:in", "rec:in"])
    assert set(after.made) == {("Antiphon Out:out", "synth:in"), ("keys:out", "Antiphon In:in"),
                               ("Antiphon Out:out", "rec:in")}
    assert memory.owed == {}  # Antiphon's own probe is its own business, never owed


def test_what_is_still_owed_survives_a_second_loss():
    memory = LinkMemory()
    memory.look(FakeLinks({("keys:out", "Antiphon In:in")}), OWN)
    memory.lost()
    memory.look(FakeLinks(set()), OWN)  # back, the keyboard not yet
    memory.lost()
    assert memory.owed == {NOTES_IN: {"keys:out"}}


def test_nothing_is_owed_while_the_system_stays():
    links = FakeLinks({("keys:out", "Antiphon In:in")})
    memory = LinkMemory()
    memory.look(links, OWN)
    memory.restore(links, OWN, ["keys:out"], [])
    assert links.made == [] and memory.owed == {}
