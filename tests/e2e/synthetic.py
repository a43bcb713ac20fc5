"""Synthetic enrolment records for the packet, outbox, receiver and end-to-end tests and the benches.

Made from the simulators' own material (fingerprints rendered by ``hardware_sim.fingerprints``,
scikit-image's astronaut as the portrait) so that packets are realistic in size and content, and
so that tests can scan the station's disk for these exact bytes and names.
"""

from __future__ import annotations

import io
import json
import os
import uuid
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from capture.document.identity import DocumentSource, IdentityDocument, VerificationStep
from capture.face.sample import CheckOutcome, FaceSample
from capture.finger.positions import ExceptionReason, FingerPosition
from capture.finger.tenprint import Attempt, FingerException, FingerSample
from capture.record import EnrolmentRecord
from drivers.device import DeviceInfo, DeviceKind

FULL_NAME = "NGUYỄN THỊ HỒNG NHUNG"
PERSONAL_ID = "040301001234"
SCANNER = DeviceInfo(DeviceKind.FINGERPRINT, "nb1010", "usb:1:4", "NEXT Biometrics", 0x298D, 0x1010, "SIM1")
CAMERA = DeviceInfo(DeviceKind.CAMERA, "uvc", "/dev/video0", "Logitech", 0x046D, 0x0825)


_FACE_JPEG: bytes | None = None
_FINGERS: dict[int, np.ndarray] = {}


def face_jpeg() -> bytes:
    global _FACE_JPEG
    if _FACE_JPEG is None:
        from skimage import data

        bgr = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
        _FACE_JPEG = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    return _FACE_JPEG


def finger_pixels(position: int) -> np.ndarray:
    """One rendered impression, shifted per position (rendering takes ~0.7 s, so only one is rendered)."""
    if not _FINGERS:
        from hardware_sim.fingerprints import render_impression

        _FINGERS[0] = render_impression(7, 2, width=256, height=360, ppi=500)
    return np.roll(_FINGERS[0], 9 * position, axis=1)


def record(*, fingers: int = 10, padding: int = 0, packet_id: uuid.UUID | None = None,
           cheap: bool = False) -> EnrolmentRecord:
    """One citizen's record: 10 fingers (minus declared exceptions when ``fingers`` < 10), face, chip data.

    ``padding`` adds that many random bytes as a DG2 so that benches can reach a target packet size;
    ``cheap`` uses noise images instead of rendered ones (for short-lived worker processes).
    """
    now = datetime.now(UTC)
    positions = list(FingerPosition)[:fingers]
    noise = np.random.default_rng().integers(0, 256, (360, 256), dtype=np.uint8) if cheap else None
    samples = {
        position: FingerSample(position, noise if cheap else finger_pixels(int(position)), 500, 62,
                               (Attempt(48, ("too light",), now), Attempt(62, (), now)), False, SCANNER, now)
        for position in positions
    }
    exceptions = {
        position: FingerException(position, ExceptionReason.BANDAGED, "bandage after burn", now)
        for position in list(FingerPosition)[fingers:]
    }
    jpeg = cv2.imencode(".jpg", noise)[1].tobytes() if cheap else face_jpeg()
    face = FaceSample(jpeg, 512, 512, (CheckOutcome("eyes_open", 0.9, ">= 0.5", True),
                                              CheckOutcome("background", None, "uniform", None)),
                      False, CAMERA, now)
    demographics = {"full_name": FULL_NAME, "date_of_birth": "1990-07-14", "sex": "F", "nationality": "VNM",
                    "place_of_residence": "Xóm 3, Hưng Dũng, Vinh, Nghệ An"}
    groups = {"COM": b"\x60\x16\x5f\x01\x040107", "DG1": b"\x61\x5b\x5f\x1f" + b"IDVNM" + PERSONAL_ID.encode(),
              "DG13": FULL_NAME.encode(), "SOD": b"\x77\x82" + os.urandom(1500)}
    if padding:
        groups["DG2"] = os.urandom(padding)
    document = IdentityDocument(PERSONAL_ID, DocumentSource.CHIP, dict(demographics), now,
                                mrz="IDVNM0403010012<<<<<<", data_groups=groups, portrait_jpeg=jpeg,
                                verification=(VerificationStep("SOD signature", True),
                                              VerificationStep("DG1 hash", True)))
    return EnrolmentRecord("NA-HUNGDUNG-01", "officer-17", packet_id=packet_id or uuid.uuid4(), created_at=now,
                           demographics=demographics, document=document, face=face, fingers=samples,
                           finger_exceptions=exceptions)


def plaintext_markers() -> list[bytes]:
    """Byte strings that betray plaintext biometrics or demographics if found in a file."""
    png_rows = [finger_pixels(1)[180, :64].tobytes()]
    return [FULL_NAME.encode(), PERSONAL_ID.encode(), face_jpeg()[:64], face_jpeg()[-64:], b"manifest.json",
            b"\x89PNG\r\n\x1a\n", b"PK\x03\x04", *png_rows]


def scan_for_plaintext(directory: Path) -> list[str]:
    """Files under ``directory`` that hold any plaintext marker (should always be empty)."""
    markers = plaintext_markers()
    found = []
    for path in directory.rglob("*"):
        if path.is_file():
            try:
                data = path.read_bytes()
            except OSError:
                continue  # vanished while scanning (a temp file renamed): the rename target is scanned
            hits = [marker[:16] for marker in markers if marker in data]
            if hits:
                found.append(f"{path}: {hits}")
    return found


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RunningReceiver:
    """The reference receiver served by uvicorn (TLS, client certificates) in a thread of the test process."""

    def __init__(self, settings: object) -> None:
        from receiver.server import build_intake

        self.settings = settings
        self.intake = build_intake(settings)  # type: ignore[arg-type]
        self.server = None
        self.thread = None

    def start(self) -> RunningReceiver:
        import threading
        import time

        import uvicorn

        from receiver.server import loaded_config

        self.server = uvicorn.Server(loaded_config(self.settings, self.intake))  # type: ignore[arg-type]
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the receiver did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            self.thread.join(20)  # type: ignore[union-attr]
            self.server = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.settings.port}"  # type: ignore[attr-defined]


def receiver_settings(pki: object, data_dir: Path, port: int | None = None) -> object:
    from receiver.server import ReceiverSettings

    return ReceiverSettings(
        data_dir=data_dir, tls_certificate=pki.tls_certificate, tls_key=pki.tls_key,  # type: ignore[attr-defined]
        station_ca=pki.station_ca, decryption_certificate=pki.registry_certificate,  # type: ignore[attr-defined]
        decryption_key=pki.registry_key, receipt_certificate=pki.receipt_certificate,  # type: ignore[attr-defined]
        receipt_key=pki.receipt_key, port=port or free_port(), name="registry-test")  # type: ignore[attr-defined]


def station_config(data_dir: Path, receiver_url: str, **outbox: object) -> object:
    """A simulated station configuration (the development PKI under ``data_dir``)."""
    from station.config import parse_config

    return parse_config({"station": {"id": "NA-HUNGDUNG-01", "simulated": True}, "paths": {"data_dir": str(data_dir)},
                         "outbox": {"receiver_url": receiver_url, **outbox}})


def with_manifest(content: bytes, change: Callable[[dict], None]) -> bytes:
    """The packet ZIP ``content`` with its manifest passed through ``change`` and the files kept: a forged
    packet that is still a well-formed ZIP, for tests of what reads packets back."""
    archive = zipfile.ZipFile(io.BytesIO(content))
    manifest = json.loads(archive.read("manifest.json"))
    change(manifest)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        out.writestr("manifest.json", json.dumps(manifest))
        for name in archive.namelist()[1:]:
            out.writestr(name, archive.read(name))
    return buffer.getvalue()


# -- hostile packets for the intake fuzzers (tests/receiver/test_intake_fuzz.py, bench/intake_fuzz.py) --

FUZZ_LAYERS = ("sealed", "signed", "zip", "manifest", "entries")
"""Where a hostile packet is changed: the sealed bytes (AES-GCM refuses), the SignedData inside a valid
envelope, the ZIP or its manifest under a valid signature, or the ZIP's entries (compressed, repeated,
renamed) under a valid signature.  The deeper layers are re-signed with the station's real key:
what a stolen key or a buggy station sends."""


def mutate_bytes(rng, data: bytes) -> bytes:
    """A few random changes: flipped bytes, a cut, an insertion or a repeated slice."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        if choice < 0.55 and out:
            for _ in range(rng.randint(1, 8)):
                out[rng.randrange(len(out))] = rng.randrange(256)
        elif choice < 0.7 and out:
            del out[rng.randrange(len(out)):]
        elif choice < 0.85:
            at = rng.randrange(len(out) + 1)
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        elif out:
            start = rng.randrange(len(out))
            out[start:start] = out[start:start + rng.randint(1, 512)]
    return bytes(out)


_JUNK_VALUES = (None, 0, -1, 2**63, 1.5, "", "x" * 5000, "../../etc/passwd", [], {}, [None], {"a": [1]}, True)


def mutate_manifest(rng, manifest: dict) -> None:
    """A structural change somewhere in the manifest: a key dropped, or a value replaced by junk."""
    target: object = manifest
    for _ in range(rng.randint(0, 3)):  # walk down a little
        if isinstance(target, dict) and target:
            key = rng.choice(sorted(target))
            if isinstance(target[key], dict | list) and target[key]:
                target = target[key]
        elif isinstance(target, list) and target:
            candidate = rng.choice(target)
            if isinstance(candidate, dict | list) and candidate:
                target = candidate
    if isinstance(target, dict) and target:
        key = rng.choice(sorted(target))
        if rng.random() < 0.3:
            del target[key]
        else:
            target[key] = rng.choice(_JUNK_VALUES)
    elif isinstance(target, list) and target:
        target[rng.randrange(len(target))] = rng.choice(_JUNK_VALUES)


def _zip_entries(entries: list[tuple[str, bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name, data, method in entries:
            out.writestr(name, data, compress_type=method)
    return buffer.getvalue()


def hostile_packets(pki: object, rng, count: int):
    """``count`` (layer, packet id, sealed bytes) of valid packets changed at one of :data:`FUZZ_LAYERS`."""
    import warnings

    from crypto import envelope, signed_data
    from crypto.keys import load_certificate
    from packet.build import build_packet

    base = record(fingers=2)
    content = build_packet(base)
    signer = pki.station_signer()  # type: ignore[attr-defined]
    registry = load_certificate(pki.registry_certificate)  # type: ignore[attr-defined]
    archive = zipfile.ZipFile(io.BytesIO(content))
    names = archive.namelist()

    def sealed(inner: bytes) -> bytes:
        return envelope.envelope(inner, registry, content_type="signed_data")

    def with_fresh_id(change: Callable[[dict], None] = lambda _m: None) -> tuple[str, dict]:
        """The manifest under a new packet id for every input (so that a mutation that happens to be
        harmless is stored once, and the next inputs are not merely conflicts with it), then ``change``d."""
        manifest = json.loads(archive.read("manifest.json"))
        manifest["packet_id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        fresh = manifest["packet_id"]
        change(manifest)
        return fresh, manifest

    def rezip(manifest: dict) -> bytes:
        return _zip_entries([("manifest.json", json.dumps(manifest).encode(), zipfile.ZIP_STORED),
                             *((name, archive.read(name), zipfile.ZIP_STORED) for name in names[1:])])

    for index in range(count):
        layer = FUZZ_LAYERS[index % len(FUZZ_LAYERS)]
        if layer == "sealed":
            packet_id, manifest = with_fresh_id()
            data = mutate_bytes(rng, sealed(signed_data.sign(rezip(manifest), signer)))
        elif layer == "signed":
            packet_id, manifest = with_fresh_id()
            data = sealed(mutate_bytes(rng, signed_data.sign(rezip(manifest), signer)))
        elif layer == "zip":
            packet_id, manifest = with_fresh_id()
            data = sealed(signed_data.sign(mutate_bytes(rng, rezip(manifest)), signer))
        elif layer == "manifest":
            packet_id, manifest = with_fresh_id(lambda m: mutate_manifest(rng, m))
            data = sealed(signed_data.sign(rezip(manifest), signer))
        else:
            packet_id, manifest = with_fresh_id()
            entries = [("manifest.json", json.dumps(manifest).encode(), zipfile.ZIP_STORED),
                       *((name, archive.read(name), zipfile.ZIP_STORED) for name in names[1:])]
            victim = rng.randrange(1, len(entries))
            name, body, _ = entries[victim]
            trick = rng.randrange(4)
            if trick == 0:
                entries[victim] = (name, body, rng.choice((zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)))
            elif trick == 1:
                entries.append((name, mutate_bytes(rng, body), zipfile.ZIP_STORED))
            elif trick == 2:
                entries[victim] = (rng.choice(("../../x", "/tmp/x", "chip\\..\\..", "face/..", "a" * 300)), body,
                                   zipfile.ZIP_STORED)
            else:
                entries.append(("extra.bin", os.urandom(rng.randint(0, 256)), zipfile.ZIP_STORED))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # zipfile warns of the duplicate names we want
                data = sealed(signed_data.sign(_zip_entries(entries), signer))
        yield layer, packet_id, data


def fuzz_intake(intake: object, pki: object, rng, count: int) -> tuple[dict[str, int], list[str]]:
    """Feed ``count`` hostile packets to ``intake``: outcomes by refusal code (or ``stored`` /
    ``duplicate``), and a description of every exception that is not a refusal (the goal: none)."""
    import traceback

    from crypto.errors import PacketError

    outcomes: dict[str, int] = {}
    unexpected: list[str] = []
    for layer, packet_id, data in hostile_packets(pki, rng, count):
        try:
            accepted = intake.accept(packet_id, data)  # type: ignore[attr-defined]
            outcome = "stored" if accepted.created else "duplicate"
        except PacketError as error:
            outcome = error.code
        except Exception:  # what the fuzzer is for: anything else is a defect
            outcome = "UNEXPECTED"
            unexpected.append(f"{layer}: {traceback.format_exc(limit=-3)}")
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes, unexpected
