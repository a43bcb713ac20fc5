"""Building the packet: an :class:`~capture.record.EnrolmentRecord` as a ZIP with ``manifest.json``, in memory.

The ZIP is *stored*, not compressed: the images are already compressed (JPEG) or compress poorly
relative to the time it costs (PNG is lossless and already deflated), and a stored ZIP lets
anyone list and extract it with stock tools after ``openssl cms -decrypt``/``-verify``.
``docs/packet-format.md`` describes every field; ``packet/schema.json`` is the JSON Schema
the manifest is validated against before sealing, so a malformed manifest never leaves the station.

Nothing here touches the disk (ARCHITECTURE rule 2): the caller seals the bytes returned.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime
from typing import Any

import cv2

from capture.record import EnrolmentRecord
from drivers.device import DeviceInfo
from drivers.errors import ExplainedError
from packet.manifest import FORMAT, MANIFEST, SCHEMA_VERSION, PacketFormatError, validate_manifest

MEDIA_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".bin": "application/octet-stream"}


class PacketBuildError(ExplainedError):
    """The record cannot be made into a valid packet (a programming or capture error, never the citizen's)."""


def build_packet(record: EnrolmentRecord) -> bytes:
    """The ZIP bytes of ``record`` (manifest first, then files in a fixed order)."""
    files: dict[str, bytes] = {}
    samples: list[dict[str, Any]] = []
    if record.face is not None:
        face = record.face
        files["face/token.jpg"] = face.token_jpeg
        samples.append({
            **_file_entry("face/token.jpg", face.token_jpeg),
            "kind": "face",
            "quality": _face_quality(face.checks),
            # FaceSample keeps the number of tries in ``extra`` when the face flow counts them.
            "attempts": face.extra["attempts"] if isinstance(face.extra.get("attempts"), int) else 1,
            "device": _device(face.device),
            "captured_at": _time(face.captured_at),
            "width": face.width,
            "height": face.height,
            "manual": face.manual,
            "checks": [{"name": c.name, "value": c.value, "threshold": c.threshold, "passed": c.passed,
                        "detail": c.detail} for c in face.checks],
        })
    for position in sorted(record.fingers):
        finger = record.fingers[position]
        name = f"fingers/{int(position):02d}-{position.name.lower().replace('_', '-')}.png"
        ok, encoded = cv2.imencode(".png", finger.pixels)
        if not ok:
            raise PacketBuildError(f"cannot PNG-encode the {position.name} image")
        files[name] = encoded.tobytes()
        samples.append({
            **_file_entry(name, files[name]),
            "kind": "finger",
            "position": int(position),
            "position_name": position.name.lower(),
            "quality": finger.quality,
            "attempts": [{"score": a.score, "reasons": list(a.reasons), "captured_at": _time(a.captured_at),
                          "duplicate_of": int(a.duplicate_of) if a.duplicate_of is not None else None}
                         for a in finger.attempts],
            "forced": finger.forced,
            "ppi": finger.ppi,
            "device": _device(finger.device),
            "captured_at": _time(finger.captured_at),
        })
    document = None
    if record.document is not None:
        doc = record.document
        data_groups = []
        for group in sorted(doc.data_groups):
            name = f"chip/{group}.bin"
            files[name] = doc.data_groups[group]
            data_groups.append({"name": group, **_file_entry(name, files[name])})
        portrait = None
        if doc.portrait_jpeg is not None:
            files["chip/portrait.jpg"] = doc.portrait_jpeg
            portrait = _file_entry("chip/portrait.jpg", doc.portrait_jpeg)
        document = {
            "personal_id": doc.personal_id,
            "source": str(doc.source),
            "read_at": _time(doc.read_at),
            "mrz": doc.mrz,
            "demographics": dict(doc.demographics),
            "data_groups": data_groups,
            "portrait": portrait,
            "checks": [{"name": s.name, "passed": s.passed, "detail": s.detail} for s in doc.verification],
            "verified": doc.verified,
        }
    manifest = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "packet_id": str(record.packet_id),
        "station_id": record.station_id,
        "operator_id": record.operator_id,
        "created_at": _time(record.created_at),
        "demographics": dict(record.demographics),
        "changed_from_chip": list(record.changed_from_chip),
        "document": document,
        "samples": samples,
        "exceptions": [{
            "position": int(exception.position),
            "position_name": exception.position.name.lower(),
            "reason": exception.reason.code,
            "ansi_code": exception.reason.ansi_code,
            "note": exception.note,
            "declared_at": _time(exception.declared_at),
        } for _, exception in sorted(record.finger_exceptions.items())],
        "files": [_file_entry(name, data) for name, data in files.items()],
    }
    try:
        validate_manifest(manifest)
    except PacketFormatError as error:
        raise PacketBuildError(str(error)) from error
    return _zip(manifest, files, record.created_at)


def _zip(manifest: dict[str, Any], files: dict[str, bytes], when: datetime) -> bytes:
    buffer = io.BytesIO()
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        entries = [(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1).encode()), *files.items()]
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, data)
    return buffer.getvalue()


def _file_entry(name: str, data: bytes) -> dict[str, Any]:
    suffix = name[name.rfind("."):]
    return {"file": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
            "media_type": MEDIA_TYPES.get(suffix, "application/octet-stream")}


def _face_quality(checks: tuple) -> float | None:
    """Share of decided portrait checks that passed (0-100); None when no check could be decided."""
    decided = [check for check in checks if check.passed is not None]
    return round(100.0 * sum(check.passed for check in decided) / len(decided), 1) if decided else None


def _device(info: DeviceInfo) -> dict[str, Any]:
    return info.to_dict()


def _time(when: datetime) -> str:
    if when.tzinfo is None:
        raise PacketBuildError(f"time {when} has no time zone; the record must use aware UTC times")
    return when.isoformat()
