"""Standard eMRTD files for vicc, made without the product's code: the PKI and EF.SOD by the
OpenSSL command line (``openssl req``, ``openssl x509``, ``openssl cms -sign``), the LDS
Security Object by asn1crypto, the TLV files by the few lines below (ICAO 9303-10 4.6-4.7).

The holder is ICAO 9303's own TD3 specimen (9303-11 Appendix D, the BAC worked example):
``P<UTOERIKSSON<<ANNA<MARIA`` / ``L898902C<3UTO6908061F9406236ZE184226B<<<<<14``.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import cv2
import numpy as np
from asn1crypto import algos, core

TD3_SPECIMEN = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
                "L898902C<3UTO6908061F9406236ZE184226B<<<<<14")
#: What BAC is run with for the specimen: document number, birth date, expiry date.
SPECIMEN_ACCESS = ("L898902C", "690806", "940623")
ID_LDS_SECURITY_OBJECT = "2.23.136.1.1.1"


def tlv(tag: int, value: bytes) -> bytes:
    """BER-TLV with a definite length (short form below 128, else 81/82)."""
    size = len(value)
    length = bytes([size]) if size < 0x80 else (b"\x81" + bytes([size]) if size < 0x100
                                                   else b"\x82" + size.to_bytes(2, "big"))
    return tag.to_bytes((tag.bit_length() + 7) // 8, "big") + length + value


def ef_com(tags: bytes) -> bytes:
    return tlv(0x60, tlv(0x5F01, b"0107") + tlv(0x5F36, b"040000") + tlv(0x5C, tags))


def dg1(lines: tuple[str, str] = TD3_SPECIMEN) -> bytes:
    return tlv(0x61, tlv(0x5F1F, "".join(lines).encode("ascii")))


def portrait_jpeg(width: int = 240, height: int = 320) -> bytes:
    """A small synthetic portrait-shaped JPEG (a grey background, a face-coloured ellipse)."""
    image = np.full((height, width, 3), 200, np.uint8)
    cv2.ellipse(image, (width // 2, height // 2), (width // 3, height // 3), 0, 0, 360, (120, 160, 210), -1)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return encoded.tobytes()


def dg2(jpeg: bytes, width: int = 240, height: int = 320) -> bytes:
    """DG2 with one ISO/IEC 19794-5:2005 facial record: record header (14 bytes), facial information
    (20), image information (12), the JPEG (image data type 0)."""
    image_info = bytes([1, 0]) + width.to_bytes(2, "big") + height.to_bytes(2, "big") + bytes([1, 2, 0, 0, 0, 0])
    face = bytes(2 + 3 + 3 + 2 + 3 + 3) + image_info + jpeg
    face = (4 + len(face)).to_bytes(4, "big") + face
    record = b"FAC\x00010\x00" + (14 + len(face)).to_bytes(4, "big") + b"\x00\x01" + face
    header = tlv(0x80, b"\x01\x01") + tlv(0x81, b"\x02") + tlv(0x87, b"\x01\x01") + tlv(0x88, b"\x00\x08")
    return tlv(0x75, tlv(0x7F61, tlv(0x02, b"\x01") + tlv(0x7F60, tlv(0xA1, header) + tlv(0x5F2E, record))))


class _DataGroupHash(core.Sequence):
    _fields = [("dataGroupNumber", core.Integer), ("dataGroupHashValue", core.OctetString)]


class _DataGroupHashes(core.SequenceOf):
    _child_spec = _DataGroupHash


class _LdsSecurityObject(core.Sequence):
    _fields = [("version", core.Integer), ("hashAlgorithm", algos.DigestAlgorithm),
               ("dataGroupHashValues", _DataGroupHashes)]


def _openssl(*arguments: str, folder: Path) -> None:
    subprocess.run(["openssl", *arguments], cwd=folder, check=True, capture_output=True, timeout=60)


def make_pki(folder: Path) -> tuple[Path, Path, Path]:
    """A CSCA (self-signed, CA) and a Document Signer it issued, both P-256 - files csca.pem,
    ds.pem, ds.key in ``folder``."""
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", "csca.key", "-out", "csca.pem", "-days", "3650", "-subj", "/C=UT/O=Utopia/CN=Test CSCA UTO",
             "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", folder=folder)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ds.key",
             "-out", "ds.csr", "-subj", "/C=UT/O=Utopia/CN=Test Document Signer UTO", folder=folder)
    (folder / "ds.ext").write_text("keyUsage=critical,digitalSignature\n"
                                   "authorityKeyIdentifier=keyid\n")
    _openssl("x509", "-req", "-in", "ds.csr", "-CA", "csca.pem", "-CAkey", "csca.key", "-CAcreateserial",
             "-days", "1825", "-extfile", "ds.ext", "-out", "ds.pem", folder=folder)
    return folder / "csca.pem", folder / "ds.pem", folder / "ds.key"


def sign_sod(groups: dict[int, bytes], folder: Path) -> bytes:
    """EF.SOD over ``groups`` (number -> file), signed by ``folder``'s Document Signer with
    ``openssl cms -sign`` (SignedData, eContentType id-ldsSecurityObject, signed attributes)."""
    lso = _LdsSecurityObject({
        "version": 0, "hashAlgorithm": {"algorithm": "sha256"},
        "dataGroupHashValues": [{"dataGroupNumber": n, "dataGroupHashValue": hashlib.sha256(d).digest()}
                                for n, d in sorted(groups.items())]}).dump()
    (folder / "lso.der").write_bytes(lso)
    _openssl("cms", "-sign", "-binary", "-nodetach", "-nosmimecap", "-md", "sha256",
             "-econtent_type", ID_LDS_SECURITY_OBJECT, "-in", "lso.der", "-signer", "ds.pem", "-inkey", "ds.key",
             "-outform", "DER", "-out", "sod.der", folder=folder)
    return tlv(0x77, (folder / "sod.der").read_bytes())


def write_card(folder: Path) -> dict[str, bytes]:
    """The specimen's card in ``folder / "files"`` (COM, DG1, DG2, SOD), the PKI beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    make_pki(folder)
    groups = {1: dg1(), 2: dg2(portrait_jpeg())}
    files = {"COM": ef_com(bytes([0x61, 0x75])), "DG1": groups[1], "DG2": groups[2], "SOD": sign_sod(groups, folder)}
    (folder / "files").mkdir(exist_ok=True)
    for name, data in files.items():
        (folder / "files" / name).write_bytes(data)
    return files
