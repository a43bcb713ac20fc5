"""The packet ZIP and its manifest: schema-valid, stored not compressed, hashes right, images lossless."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import zipfile
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest

from packet.build import build_packet
from packet.manifest import manifest_schema

DOC = Path(__file__).parents[2] / "docs" / "packet-format.md"


@pytest.fixture(scope="module")
def packet(synthetic):
    record = synthetic.record(fingers=9)
    return record, zipfile.ZipFile(io.BytesIO(build_packet(record)))


def test_manifest_validates_and_names_the_record(packet):
    record, archive = packet
    manifest = json.loads(archive.read("manifest.json"))
    jsonschema.validate(manifest, manifest_schema())
    assert manifest["packet_id"] == str(record.packet_id) and manifest["schema_version"] == 1
    assert manifest["station_id"] == "NA-HUNGDUNG-01" and manifest["operator_id"] == "officer-17"
    assert [sample["kind"] for sample in manifest["samples"]].count("finger") == 9
    assert manifest["exceptions"][0]["position"] == 10 and manifest["exceptions"][0]["ansi_code"] == "UP"
    assert manifest["document"]["verified"] is True
    assert {group["name"] for group in manifest["document"]["data_groups"]} == {"COM", "DG1", "DG13", "SOD"}


def test_zip_is_stored_and_every_file_hash_matches(packet):
    _, archive = packet
    manifest = json.loads(archive.read("manifest.json"))
    assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
    listed = {entry["file"]: entry["sha256"] for entry in manifest["files"]}
    assert set(listed) == set(archive.namelist()) - {"manifest.json"}
    for name, digest in listed.items():
        assert hashlib.sha256(archive.read(name)).hexdigest() == digest
    for sample in manifest["samples"]:
        assert listed[sample["file"]] == sample["sha256"]


def test_finger_images_are_lossless_png(packet):
    record, archive = packet
    from capture.finger.positions import FingerPosition

    decoded = cv2.imdecode(np.frombuffer(archive.read("fingers/01-right-thumb.png"), np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(decoded, record.fingers[FingerPosition.RIGHT_THUMB].pixels)


@pytest.mark.parametrize("mutation", [
    lambda m: m.pop("packet_id"),
    lambda m: m.update(schema_version=2),
    lambda m: m["samples"][0].update(sha256="xyz"),
    lambda m: m.update(colour="red"),
    lambda m: m["document"].update(personal_id="12345"),
])
def test_schema_rejects_broken_manifests(packet, mutation):
    _, archive = packet
    manifest = copy.deepcopy(json.loads(archive.read("manifest.json")))
    mutation(manifest)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(manifest, manifest_schema())


def test_document_describes_every_manifest_field():
    text = DOC.read_text(encoding="utf-8")
    for field in manifest_schema()["required"]:
        assert f"`{field}`" in text, field
    assert "openssl cms -decrypt" in text and "openssl cms -verify" in text
