"""CMS AuthEnvelopedData (RFC 5083) with AES-GCM (RFC 5084): encryption for one recipient certificate.

The content-encryption key reaches the recipient by RSA-OAEP with SHA-256 and MGF1-SHA-256
(RFC 3560, RFC 8017 §7.1) for an RSA certificate, or by ephemeral-static ECDH with the X9.63 KDF
over SHA-256 and AES key wrap (RFC 5753 §3.1, ``dhSinglePass-stdDH-sha256kdf-scheme``; RFC 3394)
for an EC certificate.  RSA PKCS#1 v1.5 key transport is never produced and is refused when
opening (Bleichenbacher-type padding oracles, RFC 8017 §7.2 note).

``open_envelope`` reads what ``openssl cms -encrypt -aes-256-gcm`` writes (BER with indefinite
lengths included — asn1crypto parses both), so the registry can accept packets made by any CMS
implementation, not only ours.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import algos, cms, core
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from crypto import der
from crypto.asn1 import HASH_ALGORITHMS, load_content_info, to_asn1_certificate
from crypto.errors import MalformedPacket, TamperedPacket, WrongRecipient
from crypto.keys import RecipientKey

NONCE_BYTES = 12
"""RFC 5084 §3.2: a 12-octet nonce is RECOMMENDED."""
TAG_BYTES = 16

ECDH_KDF_HASHES = {
    "1.3.133.16.840.63.0.2": hashes.SHA1,  # dhSinglePass-stdDH-sha1kdf-scheme (read only; OpenSSL's old default)
    "1.3.132.1.11.0": hashes.SHA224,
    "1.3.132.1.11.1": hashes.SHA256,       # what we write
    "1.3.132.1.11.2": hashes.SHA384,
    "1.3.132.1.11.3": hashes.SHA512,
}
ECDH_SHA256_KDF = "1.3.132.1.11.1"
GCM_KEY_BYTES = {"aes128_gcm": 16, "aes192_gcm": 24, "aes256_gcm": 32}
WRAP_KEY_BYTES = {"aes128_wrap": 16, "aes192_wrap": 24, "aes256_wrap": 32}


class GcmParameters(core.Sequence):
    """RFC 5084 §3.2 ``GCMParameters`` (asn1crypto has the CCM twin but not this one)."""

    _fields = [
        ("aes_nonce", core.OctetString),
        ("aes_icvlen", core.Integer, {"default": 12}),
    ]


class EccCmsSharedInfo(core.Sequence):
    """RFC 5753 §7.2 ``ECC-CMS-SharedInfo``: the X9.63 KDF's SharedInfo input."""

    _fields = [
        ("key_info", cms.KeyEncryptionAlgorithm),
        ("entity_u_info", core.OctetString, {"explicit": 0, "optional": True}),
        ("supp_pub_info", core.OctetString, {"explicit": 2}),
    ]


@dataclass(frozen=True)
class Envelope:
    """An opened AuthEnvelopedData: the decrypted content and the content type it declares."""

    content_type: str
    content: memoryview


ENCRYPTED_CONTENT = (der.SEQUENCE, der.EXPLICIT_0, der.SEQUENCE, der.SEQUENCE, der.IMPLICIT_0)
"""The path to the ciphertext: ContentInfo, its [0] content, AuthEnvelopedData, its (first SEQUENCE)
authEncryptedContentInfo and that one's ``[0] IMPLICIT`` encryptedContent (RFC 5083 §2.1, RFC 5652 §6.1)."""


def envelope(content: der.Buffer | Sequence[der.Buffer], recipient: x509.Certificate, *,
             content_type: str = "signed_data") -> bytearray:
    """A DER ``ContentInfo`` holding AuthEnvelopedData of ``content`` (AES-256-GCM) for ``recipient``.

    ``content`` may come in pieces (the SignedData around a packet), encrypted one after the other
    straight into the result: the content is read once and the result is the only buffer of its size."""
    pieces = [content] if isinstance(content, der.Buffer) else list(content)
    size = sum(len(memoryview(piece)) for piece in pieces)
    cek = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE_BYTES)
    public_key = recipient.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        recipient_info = _key_transport(cek, recipient, public_key)
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        recipient_info = _key_agreement(cek, recipient, public_key)
    else:
        raise ValueError("the recipient certificate must hold an RSA or an EC key")
    auth_enveloped = cms.AuthEnvelopedData({
        "version": "v0",
        "recipient_infos": [recipient_info],
        "auth_encrypted_content_info": {
            "content_type": content_type,
            "content_encryption_algorithm": {
                "algorithm": "aes256_gcm",
                "parameters": GcmParameters({"aes_nonce": nonce, "aes_icvlen": TAG_BYTES}),
            },
            "encrypted_content": b"",
        },
        "mac": bytes(TAG_BYTES),  # the tag, once the content is encrypted: the last TAG_BYTES of the result
    })
    structure = cms.ContentInfo({"content_type": "authenticated_enveloped_data", "content": auth_enveloped}).dump()
    head, tail = der.splice(structure, ENCRYPTED_CONTENT, size)
    sealed = bytearray(len(head) + size + len(tail))
    out = memoryview(sealed)
    out[:len(head)] = head
    encryptor = Cipher(algorithms.AES(cek), modes.GCM(nonce)).encryptor()
    offset = len(head)
    for piece in pieces:
        # update_into wants room for a block more than it writes: the tail (≥ the tag) gives it.
        offset += encryptor.update_into(piece, out[offset:])
    encryptor.finalize()
    out[offset:] = tail
    out[-TAG_BYTES:] = encryptor.tag
    return sealed


def open_envelope(data: der.Buffer, recipient: RecipientKey) -> Envelope:
    """Decrypt an AuthEnvelopedData addressed to ``recipient``; typed errors for every refusal.

    The ciphertext is decrypted from a view of ``data`` into the one buffer of the content, so a
    packet costs its size once more while it is opened (``data`` may be a file mapped in memory)."""
    hollowed = der.hollow(data, ENCRYPTED_CONTENT)
    structure, ciphertext = hollowed if hollowed is not None else (bytes(data), None)
    auth_enveloped = load_content_info(structure, "authenticated_enveloped_data")
    try:
        encrypted = auth_enveloped["auth_encrypted_content_info"]
        algorithm = encrypted["content_encryption_algorithm"]
        algorithm_name = algorithm["algorithm"].native
        if ciphertext is None:  # BER (openssl -stream): asn1crypto joined the pieces
            ciphertext = memoryview(encrypted["encrypted_content"].native or b"")
        content_type = encrypted["content_type"].native
        mac = auth_enveloped["mac"].native
        auth_attrs = auth_enveloped["auth_attrs"]
        recipient_infos = list(auth_enveloped["recipient_infos"])
        if algorithm_name not in GCM_KEY_BYTES:
            raise MalformedPacket(f"content encryption {algorithm_name} is not AES-GCM")
        parameters = GcmParameters.load(algorithm["parameters"].dump())
        nonce = parameters["aes_nonce"].native
        icv_length = parameters["aes_icvlen"].native
    except (ValueError, TypeError, KeyError) as error:
        raise MalformedPacket(f"not a CMS AuthEnvelopedData: {error}") from error
    if len(mac) != icv_length or not 12 <= icv_length <= 16:
        raise MalformedPacket(f"GCM tag of {len(mac)} bytes (declared {icv_length}; RFC 5084 allows 12 to 16)")
    try:
        cek = _recover_key(recipient_infos, recipient)
    except (ValueError, TypeError, KeyError) as error:  # asn1crypto parses lazily: a broken RecipientInfo
        raise MalformedPacket(f"a RecipientInfo of the AuthEnvelopedData does not parse: {error}") from error
    if len(cek) != GCM_KEY_BYTES[algorithm_name]:
        raise TamperedPacket("the content-encryption key has the wrong length")
    # RFC 5083 §2.1: authenticated attributes, when present, are the GCM additional data (DER, as a SET OF).
    aad = b"\x31" + auth_attrs.dump()[1:] if auth_attrs else b""
    content = bytearray(len(ciphertext) + 15)  # update_into's room for a block more than it writes
    try:
        decryptor = Cipher(algorithms.AES(cek), modes.GCM(nonce, mac, min_tag_length=12)).decryptor()
        decryptor.authenticate_additional_data(aad)
        decryptor.update_into(ciphertext, content)
        decryptor.finalize()
    except InvalidTag:
        raise TamperedPacket("AES-GCM authentication failed: the packet was altered") from None
    return Envelope(content_type, memoryview(content)[:len(ciphertext)])


def _recipient_id(certificate: x509.Certificate) -> cms.IssuerAndSerialNumber:
    parsed = to_asn1_certificate(certificate)
    return cms.IssuerAndSerialNumber({"issuer": parsed.issuer, "serial_number": parsed.serial_number})


def _key_transport(cek: bytes, recipient: x509.Certificate, public_key: rsa.RSAPublicKey) -> cms.RecipientInfo:
    encrypted_key = public_key.encrypt(cek, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    oaep = algos.RSAESOAEPParams({
        "hash_algorithm": {"algorithm": "sha256"},
        "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
    })
    return cms.RecipientInfo({"ktri": cms.KeyTransRecipientInfo({
        "version": "v0",
        "rid": {"issuer_and_serial_number": _recipient_id(recipient)},
        "key_encryption_algorithm": {"algorithm": "rsaes_oaep", "parameters": oaep},
        "encrypted_key": encrypted_key,
    })})


def _key_agreement(cek: bytes, recipient: x509.Certificate,
                   public_key: ec.EllipticCurvePublicKey) -> cms.RecipientInfo:
    ephemeral = ec.generate_private_key(public_key.curve)
    wrap = cms.KeyEncryptionAlgorithm({"algorithm": "aes256_wrap"})
    kek = _kdf(ephemeral.exchange(ec.ECDH(), public_key), hashes.SHA256, wrap, None, 32)
    point = ephemeral.public_key().public_bytes(serialization.Encoding.X962,
                                                serialization.PublicFormat.UncompressedPoint)
    return cms.RecipientInfo({"kari": cms.KeyAgreeRecipientInfo({
        "version": "v3",
        # RFC 5753 §3.1.1: originatorKey, id-ecPublicKey with the parameters absent (the recipient's curve).
        "originator": {"originator_key": {"algorithm": {"algorithm": "ec"}, "public_key": point}},
        "key_encryption_algorithm": {"algorithm": ECDH_SHA256_KDF, "parameters": wrap},
        "recipient_encrypted_keys": [{
            "rid": {"issuer_and_serial_number": _recipient_id(recipient)},
            "encrypted_key": aes_key_wrap(kek, cek),
        }],
    })})


def _kdf(shared_secret: bytes, hash_type: type[hashes.HashAlgorithm], wrap: cms.KeyEncryptionAlgorithm,
         ukm: bytes | None, key_bytes: int) -> bytes:
    fields: dict[str, object] = {"key_info": wrap, "supp_pub_info": (key_bytes * 8).to_bytes(4, "big")}
    if ukm is not None:
        fields["entity_u_info"] = ukm
    return X963KDF(hash_type(), key_bytes, EccCmsSharedInfo(fields).dump()).derive(shared_secret)


def _recover_key(recipient_infos: list[cms.RecipientInfo], recipient: RecipientKey) -> bytes:
    ours = _recipient_id(recipient.certificate).dump()
    for info in recipient_infos:
        if info.name == "ktri":
            ktri = info.chosen
            if ktri["rid"].name == "issuer_and_serial_number" and ktri["rid"].chosen.dump() == ours:
                return _unwrap_transported(ktri, recipient)
        elif info.name == "kari":
            kari = info.chosen
            for encrypted_key in kari["recipient_encrypted_keys"]:
                rid = encrypted_key["rid"]
                if rid.name == "issuer_and_serial_number" and rid.chosen.dump() == ours:
                    return _unwrap_agreed(kari, encrypted_key["encrypted_key"].native, recipient)
    raise WrongRecipient("the packet is not encrypted for this registry's certificate "
                         f"(serial {recipient.certificate.serial_number:x})")


def _unwrap_transported(ktri: cms.KeyTransRecipientInfo, recipient: RecipientKey) -> bytes:
    algorithm = ktri["key_encryption_algorithm"]
    name = algorithm["algorithm"].native
    if name != "rsaes_oaep":
        raise MalformedPacket(f"key transport {name} refused: only RSA-OAEP is accepted")
    if not isinstance(recipient.key, rsa.RSAPrivateKey):
        raise WrongRecipient("RSA key transport, but this registry's key is not RSA")
    parameters = algorithm["parameters"]
    hash_name = parameters["hash_algorithm"]["algorithm"].native
    mgf_hash_name = parameters["mask_gen_algorithm"]["parameters"]["algorithm"].native
    label = parameters["p_source_algorithm"]["parameters"].native or None
    if hash_name not in HASH_ALGORITHMS or mgf_hash_name not in HASH_ALGORITHMS:
        raise MalformedPacket(f"unsupported OAEP hash {hash_name}/{mgf_hash_name}")
    try:
        return recipient.key.decrypt(ktri["encrypted_key"].native, padding.OAEP(
            padding.MGF1(HASH_ALGORITHMS[mgf_hash_name]()), HASH_ALGORITHMS[hash_name](), label))
    except ValueError:
        raise TamperedPacket("the encrypted content-encryption key does not decrypt") from None


def _unwrap_agreed(kari: cms.KeyAgreeRecipientInfo, wrapped: bytes, recipient: RecipientKey) -> bytes:
    if not isinstance(recipient.key, ec.EllipticCurvePrivateKey):
        raise WrongRecipient("ECDH key agreement, but this registry's key is not EC")
    scheme = kari["key_encryption_algorithm"]["algorithm"].dotted
    if scheme not in ECDH_KDF_HASHES:
        raise MalformedPacket(f"key agreement scheme {scheme} is not supported")
    wrap = cms.KeyEncryptionAlgorithm.load(kari["key_encryption_algorithm"]["parameters"].dump())
    wrap_name = wrap["algorithm"].native
    if wrap_name not in WRAP_KEY_BYTES:
        raise MalformedPacket(f"key wrap {wrap_name} is not AES key wrap")
    originator = kari["originator"]
    if originator.name != "originator_key":
        raise MalformedPacket("the originator must be an ephemeral public key (RFC 5753 §3.1.1)")
    point = originator.chosen["public_key"].contents[1:]  # a BIT STRING's octets after its unused-bits count
    try:
        ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(recipient.key.curve, point)
    except ValueError:
        raise TamperedPacket("the originator's public key is not a point of the registry's curve") from None
    ukm = kari["ukm"].native if kari["ukm"] else None
    kek = _kdf(recipient.key.exchange(ec.ECDH(), ephemeral), ECDH_KDF_HASHES[scheme], wrap, ukm,
               WRAP_KEY_BYTES[wrap_name])
    try:
        return aes_key_unwrap(kek, wrapped)
    except InvalidUnwrap:
        raise TamperedPacket("the wrapped content-encryption key does not unwrap") from None
