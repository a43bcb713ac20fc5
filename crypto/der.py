"""The one large value of a CMS structure, found and filled in place instead of copied.

A sealed packet is one large OCTET STRING (the encrypted content, inside it the SignedData's
eContent: the packet ZIP) wrapped in a few hundred bytes of structure.  asn1crypto copies a
value's bytes at every level of nesting it parses and every level it encodes, which made opening a
60 MB packet cost ten times its size in memory and sealing a 10 MB one cost more time in copies than
in cryptography.  So the large value is handled here, by a walk over the DER (X.690 §8.1) headers
along a known path, and asn1crypto sees the structure with that value empty:

- :func:`hollow` takes received DER apart: the structure with the value emptied (for asn1crypto to
  parse and check) and the value as a view of the received buffer (for hashing and decryption);
- :func:`splice` is the other direction: the structure asn1crypto encoded with the value empty,
  split around where a value of a given length goes, with every enclosing length made for it.

Only definite lengths are walked: what openssl's ``-stream`` writes (BER indefinite lengths, an
OCTET STRING in pieces) makes :func:`hollow` answer ``None``, and the caller parses it whole.
"""

from __future__ import annotations

import mmap
from collections.abc import Sequence
from dataclasses import dataclass

Buffer = bytes | bytearray | memoryview | mmap.mmap
"""What a sealed packet or its content may be held in; none of it is copied to be read."""

SEQUENCE, OCTET_STRING, EXPLICIT_0, IMPLICIT_0 = 0x30, 0x04, 0xA0, 0x80
"""The tags on CMS's paths to its large values (X.690 §8.1.2): [0] constructed is EXPLICIT, primitive IMPLICIT."""


class NotDer(ValueError):
    """The bytes along the path are not definite-length DER, or the path is not there."""


@dataclass(frozen=True)
class _Element:
    tag: int
    start: int
    """Where its header begins."""
    value_start: int
    value_end: int


def _element(view: memoryview, offset: int, end: int) -> _Element:
    if offset + 2 > end:
        raise NotDer(f"a header at {offset} runs past its container")
    tag, first = view[offset], view[offset + 1]
    if tag & 0x1F == 0x1F:
        raise NotDer(f"a high tag number at {offset}")  # never on a CMS path we walk
    if first < 0x80:
        length, value_start = first, offset + 2
    elif first == 0x80 or first - 0x80 > 8:
        raise NotDer(f"an indefinite or oversized length at {offset}")
    else:
        value_start = offset + 2 + first - 0x80
        if value_start > end:
            raise NotDer(f"a length at {offset} runs past its container")
        length = int.from_bytes(view[offset + 2:value_start], "big")
    if value_start + length > end:
        raise NotDer(f"the value at {offset} runs past its container")
    return _Element(tag, offset, value_start, value_start + length)


def _path(view: memoryview, path: Sequence[int]) -> list[_Element]:
    """The elements along ``path``: the outermost (all of ``view``) with tag ``path[0]``, then at each
    level the first child with the next tag."""
    top = _element(view, 0, len(view))
    if top.tag != path[0] or top.value_end != len(view):
        raise NotDer("the outer element is not the whole buffer")
    elements = [top]
    for tag in path[1:]:
        parent, offset = elements[-1], elements[-1].value_start
        while True:
            if offset >= parent.value_end:
                raise NotDer(f"no element with tag {tag:#04x} at depth {len(elements)}")
            child = _element(view, offset, parent.value_end)
            if child.tag == tag:
                break
            offset = child.value_end
        elements.append(child)
    return elements


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def _rebuild(view: memoryview, elements: list[_Element], size: int) -> tuple[bytes, bytes]:
    """The DER before and after the last element's value, for a value of ``size`` bytes."""
    head, tail = bytes([elements[-1].tag]) + _length(size), b""
    total = len(head) + size
    for parent, child in zip(reversed(elements[:-1]), reversed(elements[1:]), strict=True):
        before = bytes(view[parent.value_start:child.start])
        after = bytes(view[child.value_end:parent.value_end])
        body = len(before) + total + len(after)
        header = bytes([parent.tag]) + _length(body)
        head, tail, total = header + before + head, tail + after, len(header) + body
    return head, tail


def hollow(data: Buffer, path: Sequence[int]) -> tuple[bytes, memoryview] | None:
    """``data`` with the value at ``path`` emptied, and that value as a view of ``data``;
    ``None`` when ``data`` is not definite-length DER along ``path`` (parse it whole then)."""
    view = memoryview(data)
    try:
        elements = _path(view, path)
    except NotDer:
        return None
    head, tail = _rebuild(view, elements, 0)
    last = elements[-1]
    return head + tail, view[last.value_start:last.value_end]


def splice(der: bytes, path: Sequence[int], size: int) -> tuple[bytes, bytes]:
    """The DER before and after the empty value at ``path`` of ``der`` once that value holds
    ``size`` bytes: ``head + value + tail`` is the structure with the value in place."""
    view = memoryview(der)
    elements = _path(view, path)
    if elements[-1].value_start != elements[-1].value_end:
        raise NotDer("the value to fill is not empty")
    return _rebuild(view, elements, size)
