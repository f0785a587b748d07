"""Reading an OSC packet the way Antiphon's OSC server does: whole, checked before any of it
is carried out, and without python-osc's own reading of bundles (which recurses, skips type
tags it does not know, and loops for ever on a bundle element of negative size).

`read_packet` returns the first messages of a packet, a bundle's flattened in order, and how
many it holds in all (as far as it was walked: at most MAX_ELEMENTS messages and bundles,
so that no packet costs more than that to read, whatever it holds), or raises `Unreadable`
for a packet with anything python-osc cannot read as it was sent among them: an unknown type
tag, arguments missing or not what their tags say, text that is not UTF-8; or anywhere in
it: a bundle element of a size that does not fit, or neither a message nor a bundle,
bundles nested deeper than MAX_BUNDLE_DEPTH. Messages past the first `limit` are counted,
not read (they are not carried out: osc_limits), so a packet of any size costs little to
read. A bundle's time tag is not waited for: one thread serves every sender, and a bundle
timed a day ahead would hold up everyone else until then.
"""

from __future__ import annotations

from dataclasses import dataclass

from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message import ParseError as MessageParseError
from pythonosc.parsing import osc_types

MAX_BUNDLE_DEPTH = 8  # bundles in bundles
# Messages and bundles walked in one packet, at any depth; what lies past them is not looked
# at. A 64 KB datagram holds some 8,000 empty bundles or tiny messages: milliseconds of
# Python each, which a flood of such packets, one token apiece, would make a core's worth.
MAX_ELEMENTS = 2048
# The argument types python-osc reads. It skips any other tag (with a warning on the root
# logger) and hands the message on as if that argument were not there.
READABLE_TYPES = frozenset("ihfdsbrmtTFN[]")
_BUNDLE_HEAD = len(b"#bundle\x00") + 8  # and the time tag


class Unreadable(ValueError):
    """A packet python-osc would misread, drop or never finish reading. `address` is that of
    the message at fault, None where there is no message to answer for."""

    def __init__(self, address: str | None, reason: str, elements: int = 1) -> None:
        super().__init__(reason)
        self.address = address
        self.reason = reason
        self.elements = elements  # messages and bundles walked before the fault was found


@dataclass
class Packet:
    messages: list[OscMessage]  # the first `limit`, in order
    count: int  # messages found
    elements: int  # messages and bundles walked, the packet itself included
    whole: bool  # False: the walk stopped at MAX_ELEMENTS, and more may lie past it


class _Enough(Exception):
    """MAX_ELEMENTS walked: the rest of the packet is not looked at."""


class _Reading:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.messages: list[OscMessage] = []
        self.count = 0
        self.elements = 0


def read_packet(datagram: bytes, limit: int) -> Packet:
    """The first `limit` messages of a packet, a message or a bundle's in order, and what was
    walked to find them; Unreadable if any of those, or the packet's shape as far as it was
    walked, cannot be read: then none of it is to be carried out."""
    reading = _Reading(limit)
    whole = True
    try:
        _read(datagram, 0, reading)
    except _Enough:
        whole = False
    except Unreadable as unreadable:  # told how far the walk got, for the rate's count
        raise Unreadable(unreadable.address, unreadable.reason, reading.elements) from None
    return Packet(reading.messages, reading.count, reading.elements, whole)


def _read(datagram: bytes, depth: int, reading: _Reading) -> None:
    if reading.elements >= MAX_ELEMENTS:
        raise _Enough
    reading.elements += 1
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
