"""The USB drives plugged into the station: where the officer's export and the technician's report go.

Writing "to USB" into a folder of the station's own disk would look like success and carry nothing
away, so the station looks for a drive that really is removable.  It asks the kernel directly,
without udisks or ``udevadm`` (a kiosk image need not run either):

* ``/proc/self/mountinfo`` (proc(5)) lists every mount with its device number ``major:minor``, its
  options and its source; paths in it escape space, tab, newline and backslash as ``\\ooo`` octal;
* ``/sys/dev/block/<major>:<minor>`` (or ``/sys/class/block/<name>`` for a FUSE mount such as
  ntfs-3g, whose device number is anonymous) links to the block device in ``/sys/devices``; a
  partition's disk is its parent directory there;
* the disk is removable when its ``removable`` attribute is 1 (most USB sticks and card readers)
  or when its place in ``/sys/devices`` runs through a USB controller (USB hard disks and SSDs
  report ``removable`` 0); a block device mounted under an automounter's root (``/media/<user>/``,
  ``/run/media/<user>/``) counts too.

The file system that holds the station's data directory is never offered, even if it is on USB.
The roots are parameters so that tests can build a /proc and /sys of their own.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from drivers.errors import N_, ExplainedError

log = logging.getLogger(__name__)

AUTOMOUNT_ROOTS = (Path("/media"), Path("/run/media"))
_OCTAL = re.compile(r"\\([0-7]{3})")
_USB_NODE = re.compile(r"usb\d+")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class RemovableDrive:
    """A mounted removable drive, as the officer and the technician choose it."""

    mount_point: Path
    label: str
    """What the drive is called: its mount point's name, which automounters take from the volume label."""
    device: str
    """Where it is mounted from (``/dev/sdb1``), for the log."""
    writable: bool
    free_bytes: int
    simulated: bool = False
    """The simulated station's stand-in (a folder of its data directory), never a real drive."""


@dataclass(frozen=True)
class Mount:
    """One line of ``/proc/self/mountinfo``."""

    device_number: str
    """``major:minor`` of the mounted device."""
    root: str
    """The directory of the file system that is mounted here (``/`` unless a bind mount)."""
    mount_point: Path
    options: frozenset[str]
    """The mount's own options and its file system's (``ro`` in either: nothing can be written)."""
    fs_type: str
    source: str


class DriveError(ExplainedError):
    """Writing to a USB drive failed.  The message names the drive (``{name}``, filled in where shown)."""

    citizen_message = N_("Writing to the USB drive “{name}” failed.")
    technician_hint = "See the station log for the error; check the drive on another computer."

    def __init__(self, detail: str, *, drive: RemovableDrive) -> None:
        super().__init__(detail)
        self.drive = drive


class DriveReadOnly(DriveError):
    citizen_message = N_("The USB drive “{name}” cannot be written to: it is read-only or locked.")
    technician_hint = "Slide the drive's lock switch off, or check that it is mounted read-write."


class DriveFull(DriveError):
    citizen_message = N_("The USB drive “{name}” is full.")
    technician_hint = "Free space on the drive or use a larger one."


class DriveRemoved(DriveError):
    citizen_message = N_("The USB drive “{name}” was removed or stopped answering.")
    technician_hint = "Insert the drive again; if it repeats, the drive or the USB port is failing."


_READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_REMOVED = {errno.ENOENT, errno.EIO, errno.ENODEV, errno.ENXIO, errno.ESTALE, errno.ENOTDIR}


@contextlib.contextmanager
def writing_to(drive: RemovableDrive) -> Iterator[None]:
    """Turn a failed write to ``drive`` into the :class:`DriveError` that says what happened to it;
    a drive mounted read-only is refused before anything is tried."""
    if not drive.writable:
        raise DriveReadOnly(f"{drive.mount_point} is mounted read-only", drive=drive)
    try:
        yield
    except OSError as error:
        kind = (DriveReadOnly if error.errno in _READ_ONLY else DriveFull if error.errno in _FULL
                else DriveRemoved if error.errno in _REMOVED else DriveError)
        raise kind(f"writing to {drive.mount_point} ({drive.device}): {error}", drive=drive) from error


def export_folder(drive: RemovableDrive, station_id: str, when: datetime) -> Path:
    """The folder an export goes to on ``drive``: the station and the day, in characters every file system takes."""
    return drive.mount_point / f"{_UNSAFE.sub('_', station_id)}-{when:%Y-%m-%d}"


def find_removable_drives(*, exclude: Path | None = None, proc: Path = Path("/proc"), sys: Path = Path("/sys"),
                          automount_roots: tuple[Path, ...] = AUTOMOUNT_ROOTS) -> list[RemovableDrive]:
    """The mounted removable drives, by mount point; none of them on the file system holding ``exclude``."""
    try:
        text = (proc / "self" / "mountinfo").read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as error:
        log.info("cannot list the mounts (%s): no removable drive is offered", error)
        return []
    mounts = parse_mountinfo(text)
    excluded = _device_holding(exclude, mounts) if exclude is not None else None
    drives: dict[str, RemovableDrive] = {}
    for mount in sorted(mounts, key=lambda m: (m.root != "/", len(str(m.mount_point)))):
        if mount.device_number == excluded or mount.device_number in drives:
            continue  # the station's own disk; or a second mount (a bind mount) of a drive already found
        if not (_is_removable(mount, sys) or _under(mount, automount_roots)):
            continue
        try:
            free = shutil.disk_usage(mount.mount_point).free
        except OSError as error:
            log.info("removable drive at %s cannot be read (%s); not offered", mount.mount_point, error)
            continue
        writable = "ro" not in mount.options and os.access(mount.mount_point, os.W_OK)
        label = mount.mount_point.name or str(mount.mount_point)
        drives[mount.device_number] = RemovableDrive(mount.mount_point, label, mount.source, writable, free)
    return sorted(drives.values(), key=lambda drive: str(drive.mount_point))


def parse_mountinfo(text: str) -> list[Mount]:
    """The mounts of a ``/proc/<pid>/mountinfo`` text; a line that does not follow proc(5) is skipped."""
    mounts = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            separator = fields.index("-", 6)  # optional fields (shared:N ...) come before " - "
            mounts.append(Mount(device_number=fields[2], root=_unescape(fields[3]),
                                mount_point=Path(_unescape(fields[4])),
                                options=frozenset(fields[5].split(",") + fields[separator + 3].split(",")),
                                fs_type=fields[separator + 1], source=_unescape(fields[separator + 2])))
        except (ValueError, IndexError):
            log.debug("mountinfo line not understood: %r", line)
    return mounts


def _unescape(field: str) -> str:
    return _OCTAL.sub(lambda match: chr(int(match.group(1), 8)), field)


def _device_holding(path: Path, mounts: list[Mount]) -> str | None:
    """The device number of the mount that holds ``path`` (the longest mount point above it)."""
    resolved = path.resolve()
    holding = [m for m in mounts if resolved == m.mount_point or m.mount_point in resolved.parents]
    return max(holding, key=lambda m: len(m.mount_point.parts)).device_number if holding else None


def _is_removable(mount: Mount, sys: Path) -> bool:
    device = _block_device(mount, sys)
    if device is None:
        return False
    disk = device.parent if (device / "partition").exists() else device
    try:
        if (disk / "removable").read_text().strip() == "1":
            return True
    except OSError:
        pass
    return any(_USB_NODE.fullmatch(part) for part in disk.parts)


def _block_device(mount: Mount, sys: Path) -> Path | None:
    """The block device's directory in ``/sys/devices``, or None for a mount of no block device (tmpfs...)."""
    candidates = [sys / "dev" / "block" / mount.device_number]
    if mount.source.startswith("/dev/"):
        candidates.append(sys / "class" / "block" / Path(mount.source).resolve().name)
    for candidate in candidates:
        if candidate.exists():
            return candidate.resolve()
    return None


def _under(mount: Mount, roots: tuple[Path, ...]) -> bool:
    return mount.source.startswith("/dev/") and any(root in mount.mount_point.parents for root in roots)
