"""Reading an OSC packet the way Antiphon's OSC server does: whole, checked before any of it
is carried out, and without python-osc's own reading of bundles (which recurses, skips type
tags it does not know, and loops for ever on a bundle element of negative size).

`read_packet` returns the first messages of a packet, a bundle's flattened in order, and how
many it holds in all, or raises `Unreadable` for a packet with anything python-osc cannot read
as it was sent among them: an unknown type tag, arguments missing or not what their tags say,
text that is not UTF-8; or anywhere in it: a bundle element of a size that does not fit, or
neither a message nor a bundle, bundles nested deeper than MAX_BUNDLE_DEPTH. Messages past
the first `limit` are counted, not read (they are not carried out: osc_limits), so a
packet of any size costs little to read. A bundle's time tag is not waited for: one thread
serves every sender, and a bundle timed a day ahead would hold up everyone else until then.
"""

from __future__ import annotations

from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message import ParseError as MessageParseError
from pythonosc.parsing import osc_types

MAX_BUNDLE_DEPTH = 8  # bundles in bundles
# The argument types python-osc reads. It skips any other tag (with a warning on the root
# logger) and hands the message on as if that argument were not there.
READABLE_TYPES = frozenset("ihfdsbrmtTFN[]")
_BUNDLE_HEAD = len(b"#bundle\x00") + 8  # and the time tag


class Unreadable(ValueError):
    """A packet python-osc would misread, drop or never finish reading. `address` is that of
    the message at fault, None where there is no message to answer for."""

    def __init__(self, address: str | None, reason: str) -> None:
        super().__init__(reason)
        self.address = address
        self.reason = reason


class _Reading:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.messages: list[OscMessage] = []
        self.count = 0


def read_packet(datagram: bytes, limit: int) -> tuple[list[OscMessage], int]:
    """(the first `limit` messages of a packet, a message or a bundle's in order; how many
    messages it holds); Unreadable if any of those, or the packet's shape, cannot be read:
    then none of it is to be carried out."""
    reading = _Reading(limit)
    _read(datagram, 0, reading)
    return reading.messages, reading.count


def _read(datagram: bytes, depth: int, reading: _Reading) -> None:
    if OscBundle.dgram_is_bundle(datagram):
        _read_bundle(datagram, depth, reading)
    elif OscMessage.dgram_is_message(datagram):
        if reading.count < reading.limit:
            reading.messages.append(_read_message(datagram))
        reading.count += 1
    else:
        raise Unreadable(None, "a bundle element that is neither a message nor a bundle")


def _read_bundle(datagram: bytes, depth: int, reading: _Reading) -> None:
    if depth >= MAX_BUNDLE_DEPTH:
        raise Unreadable(None, f"bundles nested more than {MAX_BUNDLE_DEPTH} deep")
    if len(datagram) < _BUNDLE_HEAD:
        raise Unreadable(None, "a bundle without its time tag")
    index = _BUNDLE_HEAD
    while index < len(datagram):
        try:
            size, index = osc_types.get_int(datagram, index)
        except osc_types.ParseError:
            raise Unreadable(None, "a bundle element without its size") from None
        if not 0 < size <= len(datagram) - index:
            raise Unreadable(None, f"a bundle element of {size} bytes, where "
                             f"{len(datagram) - index} remain")
        _read(datagram[index:index + size], depth + 1, reading)
        index += size


def _read_message(datagram: bytes) -> OscMessage:
    try:
        address, index = osc_types.get_string(datagram, 0)
    except (osc_types.ParseError, UnicodeDecodeError):
        raise Unreadable(None, "a message without a readable address") from None
    if index < len(datagram):  # there are type tags (no tags: no arguments, which is fine)
        try:
            tags, _ = osc_types.get_string(datagram, index)
        except (osc_types.ParseError, UnicodeDecodeError):
            raise Unreadable(address, "unreadable OSC type tags") from None
        if not tags.startswith(","):
            raise Unreadable(address, f"OSC type tags start with ',', got {clip(tags, 40)!r}")
        unknown = sorted(set(tags[1:]) - READABLE_TYPES)
        if unknown:
            raise Unreadable(address, f"unknown OSC type tag {unknown[0]!r} "
                             f"(known: {' '.join(sorted(READABLE_TYPES))})")
    try:
        return OscMessage(datagram)
    except (MessageParseError, UnicodeDecodeError):
        raise Unreadable(address, "the arguments are not what their OSC type tags say "
                         "(missing, cut short or not UTF-8)") from None


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
