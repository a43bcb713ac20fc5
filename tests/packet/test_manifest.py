"""Reading a packet back: every way a ZIP or manifest can be wrong is refused with a clear PacketFormatError."""

from __future__ import annotations

import hashlib
import io
import random
import zipfile

import pytest

from packet.build import build_packet
from packet.manifest import PacketFormatError, UnsafeZip, UnsupportedManifest, read_packet, validate_manifest


@pytest.fixture(scope="module")
def built(synthetic):
    record = synthetic.record(fingers=2)
    return record, build_packet(record)


def test_a_built_packet_reads_back_whole(built):
    record, content = built
    packet = read_packet(content)
    assert packet.packet_id == str(record.packet_id) and packet.station_id == record.station_id
    listed = {entry["file"]: entry for entry in packet.manifest["files"]}
    assert {*listed, "manifest.json"} == set(zipfile.ZipFile(io.BytesIO(content)).namelist())
    assert listed["face/token.jpg"]["sha256"] == hashlib.sha256(record.face.token_jpeg).hexdigest()


def test_a_file_larger_than_one_read_is_checked_whole(synthetic):
    """Files are hashed 1 MiB at a time: a 3 MB one is read in pieces and still matches its manifest entry."""
    record = synthetic.record(fingers=0, cheap=True, padding=3_000_000)
    assert read_packet(build_packet(record)).packet_id == str(record.packet_id)


@pytest.mark.parametrize(("change", "message"), [
    (lambda m: m.update(schema_version=2), "schema version 2 is not supported"),
    (lambda m: m.update(format="other"), "format"),
    (lambda m: m.pop("operator_id"), "operator_id"),
    (lambda m: m.update(packet_id="not-a-uuid"), "packet_id"),
    (lambda m: m.update(extra=1), "extra"),
    (lambda m: m["samples"][0].update(quality="high"), "samples/0"),
    (lambda m: m["files"].append(dict(m["files"][0])), "differ"),
    (lambda m: m["files"].pop(), "differ"),
    (lambda m: m["files"][0].update(size=1), "size or SHA-256"),
])
def test_a_wrong_manifest_is_refused_naming_the_problem(built, synthetic, change, message):
    with pytest.raises(PacketFormatError, match=message):
        read_packet(synthetic.with_manifest(built[1], change))


def test_what_is_not_a_packet_is_refused(built):
    for content in (b"", b"garbage", built[1][: len(built[1]) // 2]):
        with pytest.raises(PacketFormatError):
            read_packet(content)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        out.writestr("face/token.jpg", "x")
    with pytest.raises(PacketFormatError, match="no manifest.json"):
        read_packet(buffer.getvalue())
    with zipfile.ZipFile(buffer := io.BytesIO(), "w") as out:
        out.writestr("manifest.json", b"\xff\xfe not json")
    with pytest.raises(PacketFormatError, match="not UTF-8 JSON"):
        read_packet(buffer.getvalue())
    with pytest.raises(PacketFormatError, match="not a JSON object"):
        validate_manifest([1, 2])


def test_random_corruption_never_escapes_as_another_error(built):
    """Bounded fuzz: flipped, truncated and spliced bytes give a packet or a PacketFormatError, nothing else."""
    content = built[1]
    rng = random.Random(10)
    for _ in range(300):
        data = bytearray(content)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]
        try:
            read_packet(bytes(data))
        except PacketFormatError:
            pass


# -- hostile archives: refused before anything is decompressed ---------------------------------------

def _rezip(content: bytes, *, compression: int = zipfile.ZIP_STORED, extra: tuple[tuple[str, bytes], ...] = (),
           rename: dict[str, str] | None = None) -> bytes:
    """The packet's entries written again: compressed, renamed (in the manifest too) or with extra entries."""
    import json

    source = zipfile.ZipFile(io.BytesIO(content))
    rename = rename or {}
    manifest = json.loads(source.read("manifest.json"))
    for entry in manifest["files"]:
        entry["file"] = rename.get(entry["file"], entry["file"])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        out.writestr("manifest.json", json.dumps(manifest))
        for name in source.namelist()[1:]:
            out.writestr(rename.get(name, name), source.read(name), compress_type=compression)
        for name, data in extra:
            out.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_a_compressed_entry_is_refused_unread(built, method):
    with pytest.raises(UnsafeZip, match="compressed"):
        read_packet(_rezip(built[1], compression=method))


def test_a_decompression_bomb_is_refused_without_being_expanded(built, monkeypatch):
    """A few hundred bytes of bzip2 that claim 64 MiB: the receiver must never decompress them."""
    name = next(n for n in zipfile.ZipFile(io.BytesIO(built[1])).namelist() if n.startswith("fingers/"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        out.writestr("manifest.json", zipfile.ZipFile(io.BytesIO(built[1])).read("manifest.json"))
        out.writestr(name, bytes(64 * 1024 * 1024), compress_type=zipfile.ZIP_BZIP2)
    bomb = buffer.getvalue()
    assert zipfile.ZipFile(io.BytesIO(bomb)).getinfo(name).compress_size < 1024
    monkeypatch.setattr(zipfile.ZipFile, "read", lambda *_a, **_k: pytest.fail("an entry was read"))
    with pytest.raises(UnsafeZip, match="compressed"):
        read_packet(bomb)


@pytest.mark.parametrize("name", ["../../x", "/tmp/x", "chip\\..\\..", "face/../../etc/passwd", "face/..",
                                  "fingers/11-extra.png", "chip/DG99.bin", "notes.txt"])
def test_a_name_outside_the_documented_set_is_refused(built, name):
    first = next(n for n in zipfile.ZipFile(io.BytesIO(built[1])).namelist() if n != "manifest.json")
    with pytest.raises(UnsafeZip, match="not a name this format uses"):
        read_packet(_rezip(built[1], rename={first: name}))


def test_a_repeated_entry_is_refused(built):
    first = next(n for n in zipfile.ZipFile(io.BytesIO(built[1])).namelist() if n != "manifest.json")
    with pytest.warns(UserWarning, match="Duplicate name"):
        doubled = _rezip(built[1], extra=((first, b"another body under the same name"),))
    with pytest.raises(UnsafeZip, match="more than once"):
        read_packet(doubled)


def _central_entry(content: bytes, name: str) -> int:
    """Offset of ``name``'s central directory header (PKWARE APPNOTE 4.3.12)."""
    return content.rindex(b"PK\x01\x02", 0, content.rindex(name.encode()))


@pytest.mark.parametrize(("field", "value", "message"), [
    (24, (2**31).to_bytes(4, "little"), "claims"),   # uncompressed size
    (8, (1).to_bytes(2, "little"), "encrypted"),     # general purpose flag bit 0
])
def test_what_the_directory_claims_is_checked_before_reading(built, field, value, message):
    name = next(n for n in zipfile.ZipFile(io.BytesIO(built[1])).namelist() if n != "manifest.json")
    data = bytearray(built[1])
    at = _central_entry(built[1], name) + field
    data[at:at + len(value)] = value
    with pytest.raises(UnsafeZip, match=message):
        read_packet(bytes(data))


def test_a_manifest_of_another_version_or_format_is_unsupported(built, synthetic):
    for change in (lambda m: m.update(schema_version=99), lambda m: m.update(format="other")):
        with pytest.raises(UnsupportedManifest):
            read_packet(synthetic.with_manifest(built[1], change))


def test_every_byte_of_the_central_directory_changed_is_a_format_error(synthetic):
    """The directory names offsets and sizes that zipfile trusts (a damaged offset once made it seek
    to a negative position: a ValueError, not a refusal)."""
    content = build_packet(synthetic.record(fingers=0))
    start = content.index(b"PK\x01\x02")
    for at in range(start, len(content)):
        for value in {0xFF, content[at] ^ 0x80}:
            data = bytearray(content)
            data[at] = value
            try:
                read_packet(bytes(data))
            except PacketFormatError:
                pass
