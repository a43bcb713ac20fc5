"""Atomic, durable file writes: a file is either absent or complete, even across a power cut.

The one copy of the mechanism, used for sealed packets (outbox, receiver store) and key files.  It
sits in ``crypto`` because what is ever written to disk is sealed material or keys (ARCHITECTURE
rule 2), and every layer that writes them may import ``crypto``.

The sequence is the one POSIX allows to rely on: write a temporary file in the same directory,
``fsync`` it, ``rename`` it over the final name (atomic within a file system, rename(2)), then
``fsync`` the directory so the rename itself is on disk (fsync(2) NOTES: "calling fsync() on the
file does not ensure that the entry in the directory containing the file has also reached disk").
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from crypto.der import Buffer

TEMP_MARK = ".tmp-"


def write_atomically(path: Path, data: Buffer) -> None:
    """Write ``data`` to ``path`` so that readers and crash recovery only ever see all of it or nothing."""
    # mkstemp: a name no other writer (thread or process) uses, created with mode 0600 - key files are
    # never readable by another user, not even for a moment.
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{TEMP_MARK}")
    temporary = Path(name)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(descriptor, view)
                view = view[written:]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def is_temporary(path: Path) -> bool:
    """A leftover of an interrupted :func:`write_atomically` (safe to delete: the original is untouched)."""
    return path.name.startswith(".") and TEMP_MARK in path.name
