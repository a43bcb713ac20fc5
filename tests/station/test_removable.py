"""USB drives found from /proc and /sys (a fake tree built like the kernel's), and the officer's
export onto one: the right folder, a full, read-only or pulled drive said plainly, nothing lost."""

from __future__ import annotations

import errno
import os
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from station.config import parse_config
from station.outbox.store import Outbox, PacketState
from station.removable import (
    DriveError,
    DriveFull,
    DriveReadOnly,
    DriveRemoved,
    RemovableDrive,
    export_folder,
    find_removable_drives,
    parse_mountinfo,
    writing_to,
)

USB_PORT = "devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0"
SATA_PORT = "devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0"


class FakeKernel:
    """A /proc/self/mountinfo and the /sys block-device tree behind it, with real mount-point folders."""

    def __init__(self, root: Path) -> None:
        self.proc = root / "proc"
        self.sys = root / "sys"
        self.mnt = root / "mnt"
        self.lines: list[str] = []
        (self.proc / "self").mkdir(parents=True)
        for folder in ("dev/block", "class/block"):
            (self.sys / folder).mkdir(parents=True)
        self.mount_id = 20

    def disk(self, name: str, port: str, *, removable: bool) -> Path:
        disk = self.sys / port / "block" / name
        disk.mkdir(parents=True)
        (disk / "removable").write_text("1\n" if removable else "0\n")
        return disk

    def partition(self, disk: Path, name: str, number: str) -> None:
        partition = disk / name
        partition.mkdir()
        (partition / "partition").write_text("1\n")
        (partition / "dev").write_text(f"{number}\n")
        for link in (self.sys / "dev" / "block" / number, self.sys / "class" / "block" / name):
            link.symlink_to(os.path.relpath(partition, link.parent))

    def mount(self, number: str, where: Path, source: str, *, fs: str = "vfat", options: str = "rw,nosuid,nodev",
              root: str = "/", super_options: str = "rw") -> Path:
        where.mkdir(parents=True, exist_ok=True)
        self.mount_id += 1
        escaped = str(where).replace("\\", "\\134").replace(" ", "\\040")
        self.lines.append(f"{self.mount_id} 1 {number} {root} {escaped} {options} shared:{self.mount_id} - {fs} "
                          f"{source} {super_options}")
        (self.proc / "self" / "mountinfo").write_text("\n".join(self.lines) + "\n")
        return where

    def find(self, exclude: Path | None = None, **kwargs) -> list[RemovableDrive]:
        return find_removable_drives(exclude=exclude, proc=self.proc, sys=self.sys, **kwargs)


@pytest.fixture
def kernel(tmp_path) -> FakeKernel:
    kernel = FakeKernel(tmp_path)
    system = kernel.disk("nvme0n1", "devices/pci0000:00/0000:00:1d.0/0000:03:00.0/nvme/nvme0", removable=False)
    kernel.partition(system, "nvme0n1p2", "259:2")
    kernel.mount("259:2", kernel.mnt / "root", "/dev/nvme0n1p2", fs="ext4", super_options="rw,errors=remount-ro")
    kernel.mount("0:25", kernel.mnt / "root" / "run", "tmpfs", fs="tmpfs")
    return kernel


def test_usb_sticks_and_usb_disks_are_found_and_the_station_disk_is_not(kernel):
    stick = kernel.disk("sdb", USB_PORT, removable=True)
    kernel.partition(stick, "sdb1", "8:17")
    usb_ssd = kernel.disk("sdc", USB_PORT.replace("2-1", "2-2"), removable=False)  # USB SSDs say removable 0
    kernel.partition(usb_ssd, "sdc1", "8:33")
    sata = kernel.disk("sda", SATA_PORT, removable=False)
    kernel.partition(sata, "sda1", "8:1")
    kernel.mount("8:17", kernel.mnt / "elsewhere", "/dev/sdb1", root="/exports")  # a bind mount, listed first
    stick_at = kernel.mount("8:17", kernel.mnt / "media" / "officer" / "THẺ CĂN CƯỚC", "/dev/sdb1")
    ssd_at = kernel.mount("8:33", kernel.mnt / "media" / "officer" / "BACKUP", "/dev/sdc1", fs="exfat")
    kernel.mount("8:1", kernel.mnt / "srv", "/dev/sda1", fs="ext4")

    drives = kernel.find(exclude=kernel.mnt / "root" / "var" / "lib" / "enrolment-station")

    assert [drive.mount_point for drive in drives] == sorted([stick_at, ssd_at])
    stick_drive = next(drive for drive in drives if drive.mount_point == stick_at)
    assert stick_drive.label == "THẺ CĂN CƯỚC" and stick_drive.device == "/dev/sdb1"
    assert stick_drive.writable and stick_drive.free_bytes > 0 and not stick_drive.simulated


def test_a_fuse_mount_is_traced_to_its_disk_through_its_source(kernel):
    """ntfs-3g mounts with an anonymous device number (0:N); its source names the partition."""
    stick = kernel.disk("sdd", USB_PORT, removable=True)
    kernel.partition(stick, "sdd1", "8:49")
    where = kernel.mount("0:52", kernel.mnt / "media" / "officer" / "WINDOWS", "/dev/sdd1", fs="fuseblk",
                         options="rw,nosuid,nodev,relatime", super_options="rw,user_id=0,group_id=0,allow_other")
    assert [drive.mount_point for drive in kernel.find()] == [where]


def test_read_only_drives_are_offered_as_read_only(kernel):
    locked = kernel.disk("sdb", USB_PORT, removable=True)
    kernel.partition(locked, "sdb1", "8:17")
    kernel.mount("8:17", kernel.mnt / "media" / "LOCKED", "/dev/sdb1", options="ro,nosuid")
    card = kernel.disk("sdc", USB_PORT.replace("2-1", "2-3"), removable=True)
    kernel.partition(card, "sdc1", "8:33")
    kernel.mount("8:33", kernel.mnt / "media" / "CARD", "/dev/sdc1", super_options="ro")
    assert [(drive.label, drive.writable) for drive in kernel.find()] == [("CARD", False), ("LOCKED", False)]


def test_the_drive_holding_the_data_directory_is_never_offered(kernel):
    """A station that runs from a USB disk must not export onto its own data."""
    disk = kernel.disk("sdb", USB_PORT, removable=True)
    kernel.partition(disk, "sdb1", "8:17")
    data = kernel.mount("8:17", kernel.mnt / "station-data", "/dev/sdb1", fs="ext4")
    assert [drive.mount_point for drive in kernel.find()] == [data]
    assert kernel.find(exclude=data / "outbox" / "not-yet-made") == kernel.find(exclude=data) == []


def test_a_block_device_under_an_automount_root_counts(kernel):
    """A virtual machine's passed-through stick shows up as virtio (no USB in its path, removable 0)."""
    disk = kernel.disk("vdb", "devices/pci0000:00/0000:00:08.0/virtio5", removable=False)
    kernel.partition(disk, "vdb1", "252:17")
    where = kernel.mount("252:17", kernel.mnt / "run-media" / "officer" / "STICK", "/dev/vdb1")
    assert kernel.find() == []
    assert [drive.mount_point for drive in kernel.find(automount_roots=(kernel.mnt / "run-media",))] == [where]


def test_no_mountinfo_means_no_drive(tmp_path):
    (tmp_path / "proc").mkdir()
    assert find_removable_drives(proc=tmp_path / "proc", sys=tmp_path / "sys") == []


def test_mountinfo_lines_are_read_as_proc5_writes_them():
    text = ("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n"
            "40 36 8:17 / /media/op/MY\\040STICK\\134x rw,relatime shared:7 master:2 - vfat /dev/sdb1 rw,fmask=0022\n"
            "41 36 0:40 / /proc rw - proc proc rw\n"
            "this line is not a mount\n")
    first, stick, proc = parse_mountinfo(text)
    assert (first.device_number, first.root, first.mount_point, first.fs_type, first.source) == (
        "98:0", "/mnt1", Path("/mnt2"), "ext3", "/dev/root")
    assert first.options == {"rw", "noatime", "errors=continue"}
    assert stick.mount_point == Path("/media/op/MY STICK\\x") and stick.source == "/dev/sdb1"
    assert proc.fs_type == "proc"


@pytest.mark.parametrize(("code", "kind"), [(errno.EROFS, DriveReadOnly), (errno.EACCES, DriveReadOnly),
                                            (errno.ENOSPC, DriveFull), (errno.EIO, DriveRemoved),
                                            (errno.ENOENT, DriveRemoved), (errno.EINVAL, DriveError)])
def test_write_errors_say_what_happened_to_the_drive(tmp_path, code, kind):
    drive = RemovableDrive(tmp_path, "STICK", "/dev/sdb1", True, 10**9)
    with pytest.raises(kind) as caught, writing_to(drive):
        raise OSError(code, os.strerror(code))
    assert type(caught.value) is kind and caught.value.drive is drive
    assert "{name}" in caught.value.citizen_message and "/dev/sdb1" in str(caught.value)


def test_the_export_folder_is_named_after_station_and_day(tmp_path):
    drive = RemovableDrive(tmp_path, "STICK", "/dev/sdb1", True, 10**9)
    assert export_folder(drive, "NA-HUNGDUNG-01", datetime(2026, 11, 29, 9)) == tmp_path / "NA-HUNGDUNG-01-2026-11-29"
    assert export_folder(drive, 'A/B:C*"1', datetime(2026, 1, 2)).name == "A_B_C__1-2026-01-02"


# -- the officer's export, through the station's services -------------------------------------------

SEALED = b"\x30\x80 pretend sealed packet" * 100


def _services(tmp_path: Path, drives: list[RemovableDrive]):
    from station.bringup import StationDevices
    from station.services import StationServices

    config = parse_config({"station": {"id": "NA-01"}, "paths": {"data_dir": str(tmp_path / "data")}})
    outbox = Outbox(tmp_path / "data" / "outbox", min_free_bytes=0)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for packet_id in ids:
        outbox.add(packet_id, SEALED)
    outbox.mark_acknowledged(ids[0], b"receipt")
    services = StationServices(config, StationDevices(config), trust=None, identity=None, outbox=outbox,
                               officer=None, technician=None, drives=lambda: drives)
    return services, ids


def _drive(tmp_path: Path, *, writable: bool = True) -> RemovableDrive:
    folder = tmp_path / "media" / "STICK"
    folder.mkdir(parents=True, exist_ok=True)
    return RemovableDrive(folder, "STICK", "/dev/sdb1", writable, 10**9)


def test_export_copies_what_the_registry_has_not_confirmed_into_the_days_folder(tmp_path):
    drive = _drive(tmp_path)
    services, ids = _services(tmp_path, [drive])
    assert services.removable_drives() == [drive]
    result = services.export_outbox(drive)
    assert result.folder == drive.mount_point / f"NA-01-{datetime.now():%Y-%m-%d}"
    assert sorted(result.packet_ids) == sorted(ids[1:])
    assert sorted(path.name for path in result.folder.iterdir()) == sorted(f"{i}.p7m" for i in ids[1:])
    assert (result.folder / f"{ids[1]}.p7m").read_bytes() == SEALED
    assert services.outbox.get(ids[1]).state is PacketState.SEALED  # still sent by the uploader later


def test_nothing_to_export_writes_nothing(tmp_path):
    drive = _drive(tmp_path)
    services, ids = _services(tmp_path, [drive])
    for packet_id in ids[1:]:
        services.outbox.mark_acknowledged(packet_id, b"receipt")
    result = services.export_outbox(drive)
    assert result.packet_ids == [] and result.folder is None and list(drive.mount_point.iterdir()) == []


def test_a_full_drive_is_refused_before_anything_is_copied(tmp_path, monkeypatch):
    drive = _drive(tmp_path)
    services, _ids = _services(tmp_path, [drive])
    real = __import__("shutil").disk_usage
    monkeypatch.setattr("shutil.disk_usage", lambda path: real(path)._replace(free=len(SEALED)))
    with pytest.raises(DriveFull, match="MiB to copy"):
        services.export_outbox(drive)
    assert list(drive.mount_point.iterdir()) == []


def test_a_read_only_drive_is_refused(tmp_path):
    drive = _drive(tmp_path, writable=False)
    services, _ids = _services(tmp_path, [drive])
    with pytest.raises(DriveReadOnly):
        services.export_outbox(drive)
    assert list(drive.mount_point.iterdir()) == []


def test_a_drive_pulled_out_mid_copy_loses_nothing(tmp_path, monkeypatch):
    import shutil

    import station.outbox.store as store

    drive = _drive(tmp_path)
    services, ids = _services(tmp_path, [drive])
    real_write = store.write_atomically
    written: list[Path] = []

    def then_pulled(path: Path, data: bytes) -> None:
        if written:  # the first packet is on the stick; then the officer pulls it out
            shutil.rmtree(drive.mount_point)
        real_write(path, data)
        written.append(path)

    monkeypatch.setattr(store, "write_atomically", then_pulled)
    with pytest.raises(DriveRemoved) as caught:
        services.export_outbox(drive)
    assert caught.value.drive is drive and len(written) == 1
    for packet_id in ids[1:]:
        assert services.outbox.get(packet_id).state is PacketState.SEALED
        assert services.outbox.read_sealed(packet_id) == SEALED


def test_a_drive_that_fills_up_mid_copy_is_said_to_be_full(tmp_path, monkeypatch):
    import station.outbox.store as store

    drive = _drive(tmp_path)
    services, ids = _services(tmp_path, [drive])

    def no_space(_path: Path, _data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "write_atomically", no_space)
    with pytest.raises(DriveFull):
        services.export_outbox(drive)
    assert all(services.outbox.get(packet_id).state is PacketState.SEALED for packet_id in ids[1:])


def test_the_diagnostic_report_goes_onto_the_drive(tmp_path):
    drive = _drive(tmp_path)
    services, _ids = _services(tmp_path, [drive])
    target = services.export_diagnostics(drive, [])
    assert target.parent == drive.mount_point and target.name.startswith("diagnostic-NA-01-")
    assert (target / "devices.json").is_file()
    with pytest.raises(DriveReadOnly):
        services.export_diagnostics(_drive(tmp_path, writable=False), [])


def test_only_the_simulated_station_has_the_simulated_drive(tmp_path):
    from station.services import SIMULATED_DRIVE, simulated_drive

    config = parse_config({"station": {"id": "SIM", "simulated": True}, "paths": {"data_dir": str(tmp_path)}})
    drive = simulated_drive(config)
    assert drive.simulated and drive.writable and drive.mount_point == tmp_path / SIMULATED_DRIVE
    assert drive.mount_point.is_dir() and "simulated" in drive.label
