"""Reading a packet back: every way a ZIP or manifest can be wrong is refused with a clear PacketFormatError."""

from __future__ import annotations

import io
import random
import zipfile

import pytest

from packet.build import build_packet
from packet.manifest import PacketFormatError, read_packet, validate_manifest


@pytest.fixture(scope="module")
def built(synthetic):
    record = synthetic.record(fingers=2)
    return record, build_packet(record)


def test_a_built_packet_reads_back_whole(built):
    record, content = built
    packet = read_packet(content)
    assert packet.packet_id == str(record.packet_id) and packet.station_id == record.station_id
    assert set(packet.files) == {entry["file"] for entry in packet.manifest["files"]}
    assert packet.files["face/token.jpg"] == record.face.token_jpeg


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
        out.writestr("other.txt", "x")
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
