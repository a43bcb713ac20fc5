"""Reading a packet ZIP back: the manifest validated against the schema, and the files against the manifest.

The receiver runs this on every packet after the signature checks, so that what the registry
stores is exactly what the format promises: a manifest of a schema version this code knows (a
newer station's packet is refused with a message that says so, never half-read), valid against
``schema.json``, and a ZIP that holds exactly the files the manifest lists, each with its SHA-256.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.errors import ExplainedError

FORMAT = "vn-enrolment-packet"
SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
SCHEMA_PATH = Path(__file__).with_name("schema.json")
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
"""A manifest lists a few dozen files; anything larger is not a manifest (and is not read into memory)."""


class PacketFormatError(ExplainedError):
    """The bytes are not a packet of this format: not a ZIP, no manifest, a manifest the schema refuses,
    or files that disagree with the manifest.  Never the citizen's fault; the registry's operators read it."""

    technician_hint = "The packet does not follow docs/packet-format.md; keep it and report the station that sent it."


class UnsupportedManifest(PacketFormatError):
    """A manifest of another format, or of a schema version this code does not read (a newer station)."""


class UnsafeZip(PacketFormatError):
    """A ZIP entry this format never writes: compressed, encrypted, named otherwise, repeated, or
    claiming more bytes than the packet has (a decompression bomb, a path-traversal name)."""


@functools.cache
def manifest_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of ``manifest.json``, schema version :data:`SCHEMA_VERSION`."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate_manifest(manifest: object) -> dict[str, Any]:
    """``manifest`` if it is a manifest of this format and schema version; :class:`PacketFormatError` naming
    the first problem otherwise."""
    if not isinstance(manifest, dict):
        raise PacketFormatError("the manifest is not a JSON object")
    if manifest.get("format") != FORMAT:
        raise UnsupportedManifest(f"the manifest's format is {manifest.get('format')!r}, not {FORMAT!r}")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise UnsupportedManifest(f"manifest schema version {version!r} is not supported (this code reads version "
                                f"{SCHEMA_VERSION}); update the receiver before accepting this station's packets")
    import jsonschema  # here, not at the top: ~0.1 s off the kiosk's start, which seals no packet yet

    error = jsonschema.exceptions.best_match(_validator().iter_errors(manifest))  # what jsonschema.validate raises
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        raise PacketFormatError(f"the manifest does not follow the packet schema at {where}: {error.message}")
    return manifest


@functools.cache
def _validator() -> Any:
    """The schema's validator, made once: ``jsonschema.validate`` checks the schema itself against its
    meta-schema on every call, which was 70 of the receiver's 93 ms per 2 MB packet."""
    import jsonschema

    schema = manifest_schema()
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    return validator(schema)


@dataclass(frozen=True)
class Packet:
    """A packet read back and validated: its manifest (every file it lists is in the ZIP, as listed)."""

    manifest: dict[str, Any]

    @property
    def packet_id(self) -> str:
        return str(self.manifest["packet_id"])

    @property
    def station_id(self) -> str:
        return str(self.manifest["station_id"])


READ_BYTES = 1 << 20
"""How much of a file is read at once to be hashed: a 60 MB packet is checked in 1 MiB pieces."""


def read_packet(content: bytes | bytearray | memoryview) -> Packet:
    """Open the packet ZIP ``content``, validate its manifest and check every file against it.

    Nothing is decompressed: every entry must be stored (docs/packet-format.md), so what is read is
    never more than ``content`` itself, whatever sizes the ZIP's directory claims; and nothing of
    ``content`` is copied but the manifest and one piece of a file at a time."""
    try:
        archive = zipfile.ZipFile(_BufferFile(content))
        entries = _entries(archive, len(memoryview(content)))
        if MANIFEST not in entries:
            raise PacketFormatError(f"the ZIP has no {MANIFEST}")
        if entries[MANIFEST].file_size > MAX_MANIFEST_BYTES:
            raise PacketFormatError(f"{MANIFEST} of {entries[MANIFEST].file_size} bytes is not a manifest")
        manifest = validate_manifest(json.loads(archive.read(MANIFEST)))
        listed = {entry["file"]: entry for entry in manifest["files"]}
        names = set(entries) - {MANIFEST}
        if set(listed) != names or len(manifest["files"]) != len(listed):
            raise PacketFormatError(f"the files in the ZIP and in the manifest differ: {sorted(names ^ set(listed))}")
        for name, entry in listed.items():
            size, sha256 = 0, hashlib.sha256()
            with archive.open(name) as member:  # zipfile checks the local header and the CRC
                while piece := member.read(READ_BYTES):
                    size += len(piece)
                    sha256.update(piece)
            if size != entry["size"] or sha256.hexdigest() != entry["sha256"]:
                raise PacketFormatError(f"{name}: size or SHA-256 differs from the manifest")
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PacketFormatError(f"{MANIFEST} is not UTF-8 JSON: {error}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, ValueError) as error:
        # ValueError: zipfile seeks to whatever offset a damaged directory names (even a negative one)
        raise PacketFormatError(f"the packet's content is not a readable ZIP: {error}") from None
    return Packet(manifest)


class _BufferFile(io.RawIOBase):
    """A read-only, seekable file over a buffer, for :mod:`zipfile`: ``io.BytesIO`` would copy
    anything but ``bytes``, and a packet's content is a view of the decrypted SignedData."""

    def __init__(self, buffer: bytes | bytearray | memoryview) -> None:
        super().__init__()
        self._view = memoryview(buffer)
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        piece = self._view[self._position:self._position + len(target)]
        memoryview(target)[:len(piece)] = piece
        self._position += len(piece)
        return len(piece)


def _entries(archive: zipfile.ZipFile, available: int) -> dict[str, zipfile.ZipInfo]:
    """The ZIP's entries by name, if each is one this format writes: stored, not encrypted, named
    as documented, once, and no larger than the bytes there are; :class:`UnsafeZip` otherwise."""
    allowed = re.compile(manifest_schema()["$defs"]["file"]["properties"]["file"]["pattern"])
    entries: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        name = info.filename
        if name in entries:
            raise UnsafeZip(f"the ZIP holds {name!r} more than once")
        if name != MANIFEST and not allowed.fullmatch(name):
            raise UnsafeZip(f"the ZIP entry {name!r} is not a name this format uses (docs/packet-format.md)")
        if info.compress_type != zipfile.ZIP_STORED:
            raise UnsafeZip(f"the ZIP entry {name!r} is compressed (method {info.compress_type}); "
                            f"packet entries are stored, and a receiver does not decompress")
        if info.flag_bits & 0x1:
            raise UnsafeZip(f"the ZIP entry {name!r} is encrypted")
        if info.file_size != info.compress_size or info.file_size > available:
            raise UnsafeZip(f"the ZIP entry {name!r} claims {info.file_size} bytes stored in {info.compress_size}, "
                            f"in a packet of {available}")
        entries[name] = info
    if sum(info.file_size for info in entries.values()) > available:
        raise UnsafeZip(f"the ZIP's entries claim more bytes than the packet's {available}")
    return entries
