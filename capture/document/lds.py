"""The Logical Data Structure of an eMRTD (ICAO Doc 9303-10): EF.COM, DG1, DG2, DG13 (CCCD).

Files are parsed from the bytes exactly as read from the chip (the same bytes passive
authentication hashes), and anything malformed raises :class:`LdsError` naming the file.

* EF.COM (tag 60): 5F01 LDS version, 5F36 Unicode version, 5C the tags of the data groups present.
* DG1 (61): 5F1F the MRZ.
* DG2 (75): 7F61 biometric information group -> 02 instance count -> 7F60 template(s) -> A1
  biometric header + 5F2E (or 7F2E) biometric data block: an ISO/IEC 19794-5 facial record
  (``FAC\\0`` ``010\\0``, record length, face count; per face a 20-byte information block, 8 bytes
  per feature point, a 12-byte image information block whose second byte is 0 for JPEG and 1 for
  JPEG 2000, then the image).
* DG13 (6D), Vietnam's citizen data, structure as community decoders show it (docs/cccd.md):
  ``SEQUENCE { SEQUENCE { INTEGER, OID, SET { SEQUENCE { INTEGER n, value } ... } } }``; values
  are UTF8String, or a SEQUENCE of them for parents (13) and spouse (14).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from capture.document.mrz import Mrz, MrzError, parse_mrz
from capture.document.tlv import Tlv, TlvError, iter_tlvs, read_single, read_tlv
from drivers.errors import N_, ExplainedError

#: name -> (file identifier, short EF identifier, tag) per 9303-10 table 39 (DG3-DG16 follow the pattern).
LDS_FILES: dict[str, tuple[int, int, int]] = {
    "COM": (0x011E, 0x1E, 0x60), "SOD": (0x011D, 0x1D, 0x77),
    "DG1": (0x0101, 0x01, 0x61), "DG2": (0x0102, 0x02, 0x75), "DG3": (0x0103, 0x03, 0x63),
    "DG4": (0x0104, 0x04, 0x76), "DG5": (0x0105, 0x05, 0x65), "DG6": (0x0106, 0x06, 0x66),
    "DG7": (0x0107, 0x07, 0x67), "DG8": (0x0108, 0x08, 0x68), "DG9": (0x0109, 0x09, 0x69),
    "DG10": (0x010A, 0x0A, 0x6A), "DG11": (0x010B, 0x0B, 0x6B), "DG12": (0x010C, 0x0C, 0x6C),
    "DG13": (0x010D, 0x0D, 0x6D), "DG14": (0x010E, 0x0E, 0x6E), "DG15": (0x010F, 0x0F, 0x6F),
    "DG16": (0x0110, 0x10, 0x70),
}
_BY_TAG = {tag: name for name, (_, _, tag) in LDS_FILES.items()}

#: DG13 field numbers -> demographics keys (IdentityDocument.demographics).  13 and 14 hold sequences.
DG13_FIELDS = {
    1: "personal_id", 2: "full_name", 3: "date_of_birth", 4: "sex", 5: "nationality", 6: "ethnicity",
    7: "religion", 8: "place_of_origin", 9: "place_of_residence", 10: "identifying_marks",
    11: "date_of_issue", 12: "date_of_expiry", 13: ("father_name", "mother_name"), 14: ("spouse_name",),
    15: "old_id_number",
}


class LdsError(ExplainedError, ValueError):
    """A file from the chip that does not have the structure 9303-10 (or the CCCD) gives it."""

    citizen_message = N_("The card's chip could not be read. Please try again, holding the card still.")
    technician_hint = "A data group on the chip is malformed; keep the card aside and report it with the log."

    def __init__(self, file: str, detail: str) -> None:
        self.file = file
        super().__init__(f"{file}: {detail}")


@dataclass(frozen=True)
class EfCom:
    lds_version: str
    unicode_version: str
    data_groups: tuple[str, ...]
    """Names of the data groups the chip says it has ("DG1", "DG2", ...)."""


@dataclass(frozen=True)
class FaceImage:
    """One portrait from DG2: the image as stored and its decoded pixels (BGR, as OpenCV gives)."""

    encoded: bytes
    format: str
    """``"jpeg"`` or ``"jpeg2000"``."""
    width: int
    height: int
    pixels: np.ndarray

    def as_jpeg(self) -> bytes:
        """The portrait as JPEG: as stored if it is one, else re-encoded (quality 95)."""
        if self.format == "jpeg":
            return self.encoded
        ok, data = cv2.imencode(".jpg", self.pixels, [cv2.IMWRITE_JPEG_QUALITY, 95])
        if not ok:
            raise LdsError("DG2", "the portrait cannot be re-encoded as JPEG")
        return data.tobytes()


def _file(name: str, data: bytes) -> bytes:
    """The value of file ``name``, which must be exactly one object with the file's tag."""
    try:
        return read_single(data, LDS_FILES[name][2])
    except TlvError as error:
        raise LdsError(name, str(error)) from error


def parse_ef_com(data: bytes) -> EfCom:
    value = _file("COM", data)
    try:
        objects = {t.tag: t.value for t in iter_tlvs(value)}
    except TlvError as error:
        raise LdsError("COM", str(error)) from error
    if 0x5C not in objects:
        raise LdsError("COM", "no tag list (5C)")
    unknown = [f"{t:02X}" for t in objects[0x5C] if t not in _BY_TAG]
    if unknown:
        raise LdsError("COM", f"tag list names unknown data group tag(s) {', '.join(unknown)}")
    return EfCom(objects.get(0x5F01, b"").decode("ascii", "replace"),
                 objects.get(0x5F36, b"").decode("ascii", "replace"),
                 tuple(_BY_TAG[t] for t in objects[0x5C]))


def parse_dg1(data: bytes) -> Mrz:
    try:
        mrz = read_single(_file("DG1", data), 0x5F1F)
    except TlvError as error:
        raise LdsError("DG1", str(error)) from error
    try:
        return parse_mrz(mrz.decode("ascii"))
    except (UnicodeDecodeError, MrzError) as error:
        raise LdsError("DG1", f"MRZ: {error}") from error


def parse_dg2(data: bytes) -> list[FaceImage]:
    """Every portrait in DG2, decoded."""
    try:
        group = read_single(_file("DG2", data), 0x7F61)
        objects = list(iter_tlvs(group))
        if not objects or objects[0].tag != 0x02:
            raise LdsError("DG2", "biometric group does not start with the instance count (02)")
        templates = [o for o in objects[1:] if o.tag == 0x7F60]
        if len(templates) != int.from_bytes(objects[0].value, "big"):
            raise LdsError("DG2", f"count says {int.from_bytes(objects[0].value, 'big')} templates, "
                                  f"{len(templates)} are there")
        faces = []
        for template in templates:
            blocks = [o for o in iter_tlvs(template.value) if o.tag in (0x5F2E, 0x7F2E)]
            if len(blocks) != 1:
                raise LdsError("DG2", "a biometric template without exactly one data block (5F2E/7F2E)")
            faces.extend(parse_facial_record(blocks[0].value))
    except TlvError as error:
        raise LdsError("DG2", str(error)) from error
    return faces


def parse_facial_record(record: bytes) -> list[FaceImage]:
    """The images of an ISO/IEC 19794-5:2005 facial record."""
    if record[:8] != b"FAC\x00010\x00":
        raise LdsError("DG2", f"facial record starts {record[:8]!r}, expected b'FAC\\x00010\\x00'")
    if len(record) < 14 or int.from_bytes(record[8:12], "big") != len(record):
        raise LdsError("DG2", "facial record length field does not match the data block")
    count, offset, faces = int.from_bytes(record[12:14], "big"), 14, []
    for index in range(count):
        if offset + 20 > len(record):
            raise LdsError("DG2", f"face {index + 1}: record ends inside its information block")
        length = int.from_bytes(record[offset : offset + 4], "big")
        points = int.from_bytes(record[offset + 4 : offset + 6], "big")
        end = offset + length
        image_info = offset + 20 + 8 * points
        if length < 32 + 8 * points or end > len(record):
            raise LdsError("DG2", f"face {index + 1}: block length {length} does not fit the record")
        data_type = record[image_info + 1]
        width = int.from_bytes(record[image_info + 2 : image_info + 4], "big")
        height = int.from_bytes(record[image_info + 4 : image_info + 6], "big")
        image = record[image_info + 12 : end]
        faces.append(_decode_image(image, data_type, width, height))
        offset = end
    return faces


def _decode_image(image: bytes, data_type: int, width: int, height: int) -> FaceImage:
    if data_type == 0 and image.startswith(b"\xff\xd8"):
        image_format = "jpeg"
    elif data_type == 1 and (image.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n") or image.startswith(b"\xff\x4f")):
        image_format = "jpeg2000"
    else:
        raise LdsError("DG2", f"image data type {data_type} with data starting {image[:4].hex()} "
                              "is neither JPEG (0, FFD8) nor JPEG 2000 (1, jP box or FF4F)")
    pixels = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
    if pixels is None:
        raise LdsError("DG2", f"the {image_format} portrait cannot be decoded")
    if (pixels.shape[1], pixels.shape[0]) != (width, height):
        raise LdsError("DG2", f"record says {width}x{height}, the image is {pixels.shape[1]}x{pixels.shape[0]}")
    return FaceImage(image, image_format, width, height, pixels)


def parse_dg13(data: bytes) -> dict[str, str]:
    """The CCCD citizen fields as ``{demographics key: text}``; unknown field numbers are kept as
    ``field_<n>`` so that nothing the chip holds is dropped."""
    try:
        outer = read_single(_file("DG13", data), 0x30)
        inner = read_single(outer, 0x30)
        objects = list(iter_tlvs(inner))
        fields_set = next((o for o in objects if o.tag == 0x31), None)
        if fields_set is None:
            raise LdsError("DG13", "no SET (31) of fields")
        fields: dict[str, str] = {}
        for entry in iter_tlvs(fields_set.value):
            if entry.tag != 0x30:
                raise LdsError("DG13", f"field entry with tag {entry.tag:X}, expected a SEQUENCE")
            number_tlv = read_tlv(entry.value)
            if number_tlv.tag != 0x02:
                raise LdsError("DG13", "field entry does not start with its number (INTEGER)")
            number = int.from_bytes(number_tlv.value, "big")
            values = _texts(entry.value[number_tlv.end :], number)
            names = DG13_FIELDS.get(number, f"field_{number}")
            if isinstance(names, tuple):
                for name, value in zip(names, values, strict=False):
                    fields[name] = value
            else:
                fields[names] = " / ".join(values)
    except TlvError as error:
        raise LdsError("DG13", str(error)) from error
    return fields


def _texts(encoded: bytes, number: int) -> list[str]:
    """The strings of one DG13 field: a UTF8String, or a SEQUENCE of them."""
    texts = []
    for item in iter_tlvs(encoded):
        children: list[Tlv] = list(iter_tlvs(item.value)) if item.tag == 0x30 else [item]
        for child in children:
            if child.tag not in (0x0C, 0x13, 0x16):  # UTF8String, PrintableString, IA5String
                raise LdsError("DG13", f"field {number}: value with tag {child.tag:X}, expected a string")
            try:
                texts.append(child.value.decode("utf-8"))
            except UnicodeDecodeError as error:
                raise LdsError("DG13", f"field {number} is not valid UTF-8") from error
    return texts
