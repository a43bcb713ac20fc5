"""A really full file system (a 4 MiB tmpfs mounted for the test), not a patched one.

The disk guard reads the real free space and refuses a packet before it is sealed; and when the
disk fills behind the guard's back (another program, a log burst), the write fails with ENOSPC,
the outbox says so, and every packet already queued stays intact and consistent.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from station.outbox.store import DiskSpaceLow, Outbox, OutboxError

MiB = 2**20


@pytest.fixture
def small_disk(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root (CI runs as root)")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)], check=True, timeout=10)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False, timeout=10)


def _packet(size: int) -> bytes:
    return os.urandom(size)


def test_guard_refuses_on_the_real_free_space(small_disk):
    outbox = Outbox(small_disk / "outbox", min_free_bytes=1 * MiB)
    first = str(uuid.uuid4())
    outbox.add(first, _packet(1 * MiB))
    with pytest.raises(DiskSpaceLow, match="MiB free"):
        outbox.add(str(uuid.uuid4()), _packet(2 * MiB + MiB // 2))
    assert [row.packet_id for row in outbox.list()] == [first]


def test_disk_filled_by_someone_else_loses_nothing_already_queued(small_disk):
    outbox = Outbox(small_disk / "outbox", min_free_bytes=0)
    kept = {str(uuid.uuid4()): _packet(512 * 1024) for _ in range(2)}
    for packet_id, sealed in kept.items():
        outbox.add(packet_id, sealed)
    filler = small_disk / "filler"
    with filler.open("wb") as stream:  # fill the disk to the last block
        try:
            while True:
                stream.write(b"\0" * 65536)
                stream.flush()
        except OSError:
            pass
    blind = Outbox(small_disk / "outbox", min_free_bytes=0, free_bytes=lambda _path: 2**40)  # guard fooled
    with pytest.raises(OutboxError, match="No space left on device"):
        blind.add(str(uuid.uuid4()), _packet(512 * 1024))
    # Nothing half-written is left, and what was queued is whole.
    assert sorted(p.name for p in outbox.packets.iterdir()) == sorted(f"{i}.p7m" for i in kept)
    for packet_id, sealed in kept.items():
        assert outbox.read_sealed(packet_id) == sealed
    assert {row.packet_id for row in outbox.list()} == set(kept)
    # Once there is room again, the next packet goes in.
    filler.unlink()
    late = str(uuid.uuid4())
    outbox.add(late, _packet(512 * 1024))
    assert late in {row.packet_id for row in outbox.list()}
