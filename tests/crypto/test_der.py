"""The DER walk that finds a CMS structure's large value: checked against asn1crypto's own encoding."""

from __future__ import annotations

import os
import random

import pytest
from asn1crypto import cms

from crypto import der
from crypto.envelope import ENCRYPTED_CONTENT
from crypto.signed_data import ENCAPSULATED_CONTENT

# Lengths on each side of every change in the length's encoding (X.690 §8.1.3: short form up to 127,
# then one, two, three length octets).
SIZES = (0, 1, 127, 128, 255, 256, 65535, 65536, 70000, 16_777_216)


def _signed_data(content: bytes) -> bytes:
    """A SignedData ContentInfo as asn1crypto encodes it (the outside reference for the lengths)."""
    return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData({
        "version": "v1", "digest_algorithms": [{"algorithm": "sha256"}],
        "encap_content_info": {"content_type": "data", "content": content},
        "signer_infos": [],
    })}).dump(force=True)


def _auth_enveloped(content: bytes) -> bytes:
    return cms.ContentInfo({"content_type": "authenticated_enveloped_data", "content": cms.AuthEnvelopedData({
        "version": "v0", "recipient_infos": [],
        "auth_encrypted_content_info": {"content_type": "data",
                                        "content_encryption_algorithm": {"algorithm": "aes256_gcm"},
                                        "encrypted_content": content},
        "mac": bytes(16),
    })}).dump(force=True)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(("build", "path"), [(_signed_data, ENCAPSULATED_CONTENT),
                                             (_auth_enveloped, ENCRYPTED_CONTENT)], ids=["signed", "enveloped"])
def test_splice_and_hollow_agree_with_asn1crypto(build, path, size):
    content = os.urandom(size)
    head, tail = der.splice(build(b""), path, size)
    assert head + content + tail == build(content)
    structure, value = der.hollow(build(content), path)
    assert structure == build(b"") and value == content


def test_the_value_is_a_view_of_the_buffer_not_a_copy():
    data = bytearray(_signed_data(b"x" * 1000))
    _, value = der.hollow(data, ENCAPSULATED_CONTENT)
    data[data.index(b"x" * 1000)] = ord("y")
    assert bytes(value[:1]) == b"y"


def test_what_is_not_definite_der_along_the_path_is_left_to_the_full_parser():
    whole = _signed_data(b"content")
    ber = bytearray(whole)
    ber[1:2] = b"\x80"  # the outer length made indefinite (what openssl -stream writes)
    detached = cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData({
        "version": "v1", "digest_algorithms": [], "encap_content_info": {"content_type": "data"},
        "signer_infos": []})}).dump()
    for data in (bytes(ber), whole[:-1], whole + b"\x00", detached, b"", b"\x30", b"\x04\x00"):
        assert der.hollow(data, ENCAPSULATED_CONTENT) is None
    with pytest.raises(der.NotDer):
        der.splice(whole, ENCAPSULATED_CONTENT, 5)  # the value to fill must be empty


def test_random_bytes_and_mutations_are_answered_not_raised():
    rng = random.Random(5)
    whole = _signed_data(b"content" * 40)
    for _ in range(20000):
        data = bytearray(whole)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        cut = bytes(data[:rng.randint(0, len(data))]) if rng.random() < 0.2 else bytes(data)
        found = der.hollow(cut, ENCAPSULATED_CONTENT)
        if found is not None:
            structure, value = found
            # the value is the received bytes, and the headers re-encoded with the shortest lengths
            assert bytes(value) in cut and len(structure) + len(value) <= len(cut)
