"""Mutated copies of valid bytes, for fuzzing what reads a chip's files: what a worn, counterfeit
or hostile chip could hand over.  Pure byte operations - no knowledge of the formats - so that
they reach what a format-aware generator written alongside the parsers would not think of.

Operations (one to three per mutant): flip one bit, set a byte to a random or boundary value
(00, 01, 7F, 80, 81, 82, FF), truncate, append random bytes, delete or duplicate a range, and
swap two ranges' positions.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

_BOUNDARY = (0x00, 0x01, 0x7F, 0x80, 0x81, 0x82, 0xFF)


def _once(data: bytearray, rng: random.Random) -> bytearray:
    size = len(data)
    if size == 0:
        return bytearray(rng.randbytes(rng.randint(1, 8)))
    operation = rng.randrange(8)
    position = rng.randrange(size)
    if operation == 0:
        data[position] ^= 1 << rng.randrange(8)
    elif operation == 1:
        data[position] = rng.randrange(256)
    elif operation == 2:
        data[position] = rng.choice(_BOUNDARY)
    elif operation == 3:
        del data[position:]
    elif operation == 4:
        data += rng.randbytes(rng.randint(1, 64))
    elif operation == 5:
        del data[position : position + rng.randint(1, 64)]
    elif operation == 6:
        data[position:position] = data[position : position + rng.randint(1, 64)]
    else:
        end = min(size, position + rng.randint(1, 32))
        other = rng.randrange(size)
        piece = data[position:end]
        del data[position:end]
        data[min(other, len(data)):min(other, len(data))] = piece
    return data


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One mutant of ``data`` (never ``data`` itself unless a mutation happened to undo another)."""
    mutant = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        mutant = _once(mutant, rng)
    return bytes(mutant)


def one_byte_changes(data: bytes, values: tuple[int | None, ...] = (None,)) -> Iterator[bytes]:
    """``data`` with each byte in turn replaced by each of ``values`` (None: the byte's complement,
    ``b ^ FF``); a value equal to the byte already there is skipped."""
    for position in range(len(data)):
        for value in values:
            new = data[position] ^ 0xFF if value is None else value
            if new != data[position]:
                yield data[:position] + bytes([new]) + data[position + 1 :]
