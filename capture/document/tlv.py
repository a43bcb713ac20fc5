"""BER-TLV as the LDS uses it (ISO/IEC 7816-4 5.2, ICAO Doc 9303-10 section 4): tags of one or more
bytes, definite lengths in short form or long form of up to three length bytes.

Everything read from a chip goes through :func:`read_tlv`, which rejects what a genuine file never
contains - indefinite lengths (``80``), lengths of more than three bytes, lengths that run past the
data - with a :class:`TlvError` naming the offset, instead of reading past the end or mis-slicing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

#: The LDS never needs more than three length bytes (files stay under 16 MiB, ICAO 9303-10).
MAX_LENGTH_BYTES = 3


class TlvError(ValueError):
    """Bytes that are not well-formed BER-TLV; the message says where and why."""


@dataclass(frozen=True)
class Tlv:
    """One data object: its tag (all tag bytes as one integer, e.g. ``0x5F1F``), its value, and
    where it lay in the data it was read from (``end`` is the offset just after it)."""

    tag: int
    value: bytes
    start: int
    end: int


def read_tlv(data: bytes, offset: int = 0) -> Tlv:
    """The data object starting at ``offset``."""
    position = offset
    if position >= len(data):
        raise TlvError(f"no tag at offset {offset}: the data ends there")
    tag = data[position]
    position += 1
    if tag & 0x1F == 0x1F:  # more tag bytes follow, each with bit 8 set except the last
        while True:
            if position >= len(data):
                raise TlvError(f"tag at offset {offset} runs past the end of the data")
            tag = tag << 8 | data[position]
            position += 1
            if not data[position - 1] & 0x80:
                break
            if position - offset > 4:
                raise TlvError(f"tag at offset {offset} is longer than 4 bytes")
    if position >= len(data):
        raise TlvError(f"tag {tag:X} at offset {offset} has no length")
    first = data[position]
    position += 1
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise TlvError(f"tag {tag:X} at offset {offset} has an indefinite length (80), which the LDS does not use")
    else:
        count = first & 0x7F
        if count > MAX_LENGTH_BYTES:
            raise TlvError(f"tag {tag:X} at offset {offset}: length of {count} bytes (at most {MAX_LENGTH_BYTES})")
        if position + count > len(data):
            raise TlvError(f"tag {tag:X} at offset {offset}: length bytes run past the end of the data")
        length = int.from_bytes(data[position : position + count], "big")
        position += count
    if position + length > len(data):
        raise TlvError(f"tag {tag:X} at offset {offset} declares {length} bytes of value, "
                       f"{len(data) - position} are there")
    return Tlv(tag, bytes(data[position : position + length]), offset, position + length)


def header(data: bytes) -> tuple[int, int]:
    """``(header size, value length)`` of the object at the start of ``data``, from its tag and
    length bytes alone: lets a reader learn a file's size from its first few bytes."""
    size = 1
    if data and data[0] & 0x1F == 0x1F:
        while size < len(data) and data[size] & 0x80:
            size += 1
        size += 1
    if size >= len(data):
        raise TlvError("too few bytes to hold a tag and a length")
    first = data[size]
    if first < 0x80:
        return size + 1, first
    count = first & 0x7F
    if count == 0 or count > MAX_LENGTH_BYTES:
        raise TlvError(f"unsupported length byte {first:02X} at offset {size}")
    if size + 1 + count > len(data):
        raise TlvError("too few bytes to hold the length")
    return size + 1 + count, int.from_bytes(data[size + 1 : size + 1 + count], "big")


def iter_tlvs(data: bytes) -> Iterator[Tlv]:
    """The data objects that follow one another in ``data`` (e.g. the value of a constructed one)."""
    offset = 0
    while offset < len(data):
        tlv = read_tlv(data, offset)
        yield tlv
        offset = tlv.end


def read_single(data: bytes, tag: int) -> bytes:
    """The value of ``data`` when it is exactly one object with ``tag``; anything else is an error."""
    tlv = read_tlv(data)
    if tlv.tag != tag:
        raise TlvError(f"expected tag {tag:X}, found {tlv.tag:X}")
    if tlv.end != len(data):
        raise TlvError(f"{len(data) - tlv.end} unexpected byte(s) after tag {tag:X}")
    return tlv.value


def encode_length(length: int) -> bytes:
    """DER length: short form below 128, else 81/82/83 and the length."""
    if length < 0x80:
        return bytes([length])
    size = (length.bit_length() + 7) // 8
    if size > MAX_LENGTH_BYTES:
        raise ValueError(f"length {length} needs more than {MAX_LENGTH_BYTES} bytes")
    return bytes([0x80 | size]) + length.to_bytes(size, "big")


def encode_tlv(tag: int, value: bytes) -> bytes:
    """One data object."""
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big") + encode_length(len(value)) + value
