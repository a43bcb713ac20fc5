"""Seal / open: round trip for both key-transport kinds, and each refusal with its own typed error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from crypto.errors import (
    BadSigningTime,
    CertificateExpired,
    CertificateRevoked,
    MalformedPacket,
    TamperedPacket,
    UnknownSigner,
    WrongRecipient,
)
from crypto.keys import FileSigner, generate_station_key, load_certificate
from crypto.pki import issue_station_certificate, make_csr
from crypto.seal import open_sealed, seal
from crypto.signed_data import SigningTimePolicy
from crypto.trust import TrustStore

CONTENT = b"PK\x03\x04 pretend zip " * 500


def test_round_trip(pki, helpers):
    sealed = seal(CONTENT, pki.station_signer(), helpers.registry(pki))
    opened = open_sealed(sealed, helpers.recipient(pki), helpers.trust(pki))
    assert opened.content == CONTENT
    assert opened.signer.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "NA-HUNGDUNG-01"
    assert abs(opened.signing_time - datetime.now(UTC)) < timedelta(minutes=1)
    assert CONTENT not in sealed


def test_structure_is_what_the_issue_asks_for(pki, helpers):
    sealed = seal(CONTENT, pki.station_signer(), helpers.registry(pki))
    outer = cms.ContentInfo.load(bytes(sealed))
    assert outer["content_type"].native == "authenticated_enveloped_data"
    aed = outer["content"]
    encrypted = aed["auth_encrypted_content_info"]
    assert encrypted["content_type"].native == "signed_data"
    assert encrypted["content_encryption_algorithm"]["algorithm"].native == "aes256_gcm"
    assert len(aed["mac"].native) == 16
    info = aed["recipient_infos"][0]
    if info.name == "ktri":
        algorithm = info.chosen["key_encryption_algorithm"]
        assert algorithm["algorithm"].native == "rsaes_oaep"
        assert algorithm["parameters"]["hash_algorithm"]["algorithm"].native == "sha256"
    else:
        assert info.name == "kari"
        assert info.chosen["key_encryption_algorithm"]["algorithm"].dotted == "1.3.132.1.11.1"
    inner = open_sealed(sealed, helpers.recipient(pki), helpers.trust(pki))
    assert inner.content_type == "data"


def test_signed_attributes(ec_pki, helpers):
    from crypto.envelope import open_envelope

    sealed = seal(CONTENT, ec_pki.station_signer(), helpers.registry(ec_pki))
    signed = cms.ContentInfo.load(bytes(open_envelope(sealed, helpers.recipient(ec_pki)).content))["content"]
    signer_info = signed["signer_infos"][0]
    assert {a["type"].native for a in signer_info["signed_attrs"]} == {"content_type", "message_digest",
                                                                       "signing_time"}
    assert signer_info["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"
    assert signer_info["digest_algorithm"]["algorithm"].native == "sha256"


@pytest.mark.parametrize("where", [0.1, 0.5, 0.9, -1])
def test_any_flipped_byte_is_refused(ec_pki, helpers, where):
    sealed = bytearray(seal(CONTENT, ec_pki.station_signer(), helpers.registry(ec_pki)))
    index = int(len(sealed) * where) if where >= 0 else len(sealed) - 3
    sealed[index] ^= 0x01
    with pytest.raises((TamperedPacket, MalformedPacket)):
        open_sealed(bytes(sealed), helpers.recipient(ec_pki), helpers.trust(ec_pki))


def test_ciphertext_change_is_tampered(ec_pki, helpers):
    sealed = seal(CONTENT, ec_pki.station_signer(), helpers.registry(ec_pki))
    info = cms.ContentInfo.load(bytes(sealed))
    ciphertext = bytearray(info["content"]["auth_encrypted_content_info"]["encrypted_content"].native)
    ciphertext[100] ^= 0x80
    info["content"]["auth_encrypted_content_info"]["encrypted_content"] = bytes(ciphertext)
    with pytest.raises(TamperedPacket, match="AES-GCM"):
        open_sealed(info.dump(force=True), helpers.recipient(ec_pki), helpers.trust(ec_pki))


def test_wrong_recipient(ec_pki, rsa_pki, helpers):
    sealed = seal(CONTENT, ec_pki.station_signer(), helpers.registry(rsa_pki))
    with pytest.raises(WrongRecipient):
        open_sealed(sealed, helpers.recipient(ec_pki), helpers.trust(ec_pki))


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_a_packet_for_another_registry_of_the_same_kind_is_wrong_recipient(tmp_path, kind, helpers):
    """Not "tampered": the recipient identifier names another certificate, so no key is even tried."""
    from crypto.pki import StationSubject, create_dev_pki

    ours, theirs = (create_dev_pki(tmp_path / name, StationSubject("X-1", "40", "412"), registry_key_type=kind)
                    for name in ("ours", "theirs"))
    sealed = seal(CONTENT, ours.station_signer(), helpers.registry(theirs))
    with pytest.raises(WrongRecipient, match="not encrypted for this registry"):
        open_sealed(sealed, helpers.recipient(ours), helpers.trust(ours))


def test_unknown_station(ec_pki, rsa_pki, helpers):
    sealed = seal(CONTENT, rsa_pki.station_signer(), helpers.registry(ec_pki))
    with pytest.raises(UnknownSigner):
        open_sealed(sealed, helpers.recipient(ec_pki), helpers.trust(ec_pki))


def _issued(pki, **kwargs) -> FileSigner:
    from crypto.pki import StationSubject

    key = generate_station_key()
    certificate = issue_station_certificate(make_csr(StationSubject("X-9", "40", "412"), key),
                                            load_certificate(pki.station_ca), pki.ca_key(pki.station_ca_key),
                                            **kwargs)
    return FileSigner(key, certificate)


def test_expired_certificate(ec_pki, helpers):
    signer = _issued(ec_pki, not_before=datetime.now(UTC) - timedelta(days=40), days=30)
    sealed = seal(CONTENT, signer, helpers.registry(ec_pki))
    with pytest.raises(CertificateExpired):
        open_sealed(sealed, helpers.recipient(ec_pki), helpers.trust(ec_pki))


def test_signed_while_valid_is_accepted_after_expiry(ec_pki, helpers):
    """A station offline for weeks still delivers what it signed while its certificate was valid."""
    from crypto.pki import StationSubject, issue_certificate

    long_ago = datetime.now(UTC) - timedelta(days=400)
    ca_key = generate_station_key()
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "old CA")])
    ca = issue_certificate(name, ca_key.public_key(), None, ca_key, ca=True, days=3650, not_before=long_ago,
                           usages=frozenset({"key_cert_sign"}))
    key = generate_station_key()
    certificate = issue_station_certificate(make_csr(StationSubject("X-8", "40", "412"), key), ca, ca_key,
                                            not_before=datetime.now(UTC) - timedelta(days=40), days=30)
    sealed = seal(CONTENT, FileSigner(key, certificate), helpers.registry(ec_pki),
                  signing_time=datetime.now(UTC) - timedelta(days=35))
    assert open_sealed(sealed, helpers.recipient(ec_pki), TrustStore([ca])).content == CONTENT
    late = seal(CONTENT, FileSigner(key, certificate), helpers.registry(ec_pki))
    with pytest.raises(CertificateExpired):
        open_sealed(late, helpers.recipient(ec_pki), TrustStore([ca]))


def test_signing_time_is_judged_against_the_clock_with_skew_and_grace(ec_pki, helpers):
    """Future beyond the skew: refused.  Before the certificate began: refused.  Expired but signed
    while valid: accepted for the grace window only (RFC 5652 §11.3 signing-time is the signer's claim)."""
    from crypto.pki import StationSubject, issue_certificate

    now = datetime.now(UTC)
    timing = SigningTimePolicy(clock_skew=timedelta(minutes=5), expiry_grace=timedelta(days=10))
    ca_key = generate_station_key()
    ca = issue_certificate(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "old CA")]), ca_key.public_key(),
                           None, ca_key, ca=True, days=3650, not_before=now - timedelta(days=400),
                           usages=frozenset({"key_cert_sign"}))

    def station(**kwargs) -> FileSigner:
        key = generate_station_key()
        return FileSigner(key, issue_station_certificate(make_csr(StationSubject("X-7", "40", "412"), key), ca,
                                                         ca_key, **kwargs))

    def opened(signer, signing_time, at=now):
        sealed = seal(CONTENT, signer, helpers.registry(ec_pki), signing_time=signing_time)
        return open_sealed(sealed, helpers.recipient(ec_pki), TrustStore([ca]), timing=timing, now=at)

    current = station(not_before=now - timedelta(days=1))
    assert opened(current, now + timedelta(minutes=4)).content == CONTENT  # a clock a little ahead
    with pytest.raises(BadSigningTime, match="later than this clock"):
        opened(current, now + timedelta(minutes=6))
    with pytest.raises(CertificateExpired):
        opened(current, now - timedelta(days=2))  # before the certificate's notBefore
    expired = station(not_before=now - timedelta(days=40), days=30)  # ended 10 days ago
    signed_while_valid = now - timedelta(days=15)
    assert opened(expired, signed_while_valid, at=now - timedelta(days=1)).content == CONTENT
    with pytest.raises(CertificateExpired, match="accepted for 10 days"):
        opened(expired, signed_while_valid, at=now + timedelta(days=1))


def test_revoked_certificate(ec_pki, helpers):
    signer = _issued(ec_pki)
    now = datetime.now(UTC)
    crl = (x509.CertificateRevocationListBuilder()
           .issuer_name(load_certificate(ec_pki.station_ca).subject)
           .last_update(now).next_update(now + timedelta(days=7))
           .add_revoked_certificate(x509.RevokedCertificateBuilder()
                                    .serial_number(signer.certificate.serial_number).revocation_date(now).build())
           .sign(ec_pki.ca_key(ec_pki.station_ca_key), hashes.SHA256()))
    trust = TrustStore([load_certificate(ec_pki.station_ca)], crls=[crl])
    sealed = seal(CONTENT, signer, helpers.registry(ec_pki))
    with pytest.raises(CertificateRevoked):
        open_sealed(sealed, helpers.recipient(ec_pki), trust)
    # the station of the dev PKI is not on that CRL
    other = seal(CONTENT, ec_pki.station_signer(), helpers.registry(ec_pki))
    assert open_sealed(other, helpers.recipient(ec_pki), trust).content == CONTENT


@pytest.mark.parametrize("garbage", [b"", b"\x30\x03\x02\x01\x00", b"not der at all" * 10])
def test_garbage_is_malformed(ec_pki, helpers, garbage):
    with pytest.raises(MalformedPacket):
        open_sealed(garbage, helpers.recipient(ec_pki), helpers.trust(ec_pki))


def test_chain_through_root_with_intermediate_in_packet(ec_pki, helpers):
    """A registry that trusts only the root accepts packets that carry the station CA."""
    sealed = seal(CONTENT, ec_pki.station_signer(), helpers.registry(ec_pki),
                  chain=[load_certificate(ec_pki.station_ca)])
    trust = TrustStore([load_certificate(ec_pki.root)])
    opened = open_sealed(sealed, helpers.recipient(ec_pki), trust)
    assert len(opened.chain) == 3
    with pytest.raises(UnknownSigner):
        open_sealed(seal(CONTENT, ec_pki.station_signer(), helpers.registry(ec_pki)),
                    helpers.recipient(ec_pki), trust)


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_every_byte_of_the_recipient_info_changed_is_a_typed_refusal(ec_pki, rsa_pki, helpers, kind):
    """A typed refusal, or the very content when the change does not matter.  asn1crypto parses lazily,
    so a damaged RecipientInfo first fails deep in the key recovery (it once escaped as a ValueError
    from the originator's public key)."""
    from crypto.envelope import open_envelope
    from crypto.errors import PacketError

    pki = ec_pki if kind == "ec" else rsa_pki
    sealed = seal(b"content", pki.station_signer(), helpers.registry(pki))
    recipient = helpers.recipient(pki)  # once: loading an RSA key checks it, ~0.1 s
    inner = open_envelope(sealed, recipient).content
    infos = cms.ContentInfo.load(bytes(sealed))["content"]["recipient_infos"].dump()
    start = sealed.index(infos)
    for at in range(start, start + len(infos)):
        for value in {0x00, 0xFF, sealed[at] ^ 0x80}:
            data = bytearray(sealed)
            data[at] = value
            try:
                opened = open_envelope(bytes(data), recipient)
            except PacketError:
                continue
            assert opened.content == inner  # a change that does not matter (a version number, say)


def test_user_keying_material_from_another_sender_enters_the_kdf(ec_pki, helpers, monkeypatch):
    """RFC 5753 §3.1.1, §7.2: a sender may add ``ukm``, which becomes the KDF's entityUInfo.  Neither
    we nor openssl write it, so the envelope is remade by hand with a known CEK and ephemeral key."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap

    from crypto import envelope

    cek, ephemeral = bytes(range(32)), ec.generate_private_key(ec.SECP256R1())
    monkeypatch.setattr(envelope.AESGCM, "generate_key", staticmethod(lambda bit_length: cek))
    monkeypatch.setattr(envelope.ec, "generate_private_key", lambda curve: ephemeral)
    registry = helpers.registry(ec_pki)
    info = cms.ContentInfo.load(bytes(envelope.envelope(CONTENT, registry, content_type="data")))
    kari = info["content"]["recipient_infos"][0].chosen
    ukm = b"the sender's own nonce"
    wrap = cms.KeyEncryptionAlgorithm({"algorithm": "aes256_wrap"})
    kek = envelope._kdf(ephemeral.exchange(ec.ECDH(), registry.public_key()), hashes.SHA256, wrap, ukm, 32)
    kari["recipient_encrypted_keys"][0]["encrypted_key"] = aes_key_wrap(kek, cek)
    without_ukm = info.dump(force=True)
    kari["ukm"] = ukm
    recipient = helpers.recipient(ec_pki)
    assert envelope.open_envelope(info.dump(force=True), recipient).content == CONTENT
    with pytest.raises(TamperedPacket, match="unwrap"):  # the same key wrapped under a KEK made with ukm
        envelope.open_envelope(without_ukm, recipient)


def test_authenticated_attributes_are_the_gcm_additional_data(ec_pki, helpers, monkeypatch):
    """RFC 5083 §2.1: authAttrs, DER-encoded as a SET OF, are GCM's additional authenticated data;
    changing one is tampering.  Made by hand (neither we nor openssl write them) with a known CEK."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from crypto import envelope

    cek = bytes(range(32))
    monkeypatch.setattr(envelope.AESGCM, "generate_key", staticmethod(lambda bit_length: cek))
    info = cms.ContentInfo.load(bytes(envelope.envelope(CONTENT, helpers.registry(ec_pki), content_type="data")))
    aed = info["content"]
    nonce = envelope.GcmParameters.load(
        aed["auth_encrypted_content_info"]["content_encryption_algorithm"]["parameters"].dump())["aes_nonce"].native

    def with_attributes(signed_value: bytes, mac_value: bytes | None = None) -> bytes:
        attributes = cms.CMSAttributes([cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
                                        cms.CMSAttribute({"type": "message_digest", "values": [signed_value]})])
        sealed = AESGCM(cek).encrypt(nonce, CONTENT, b"\x31" + attributes.dump()[1:])
        aed["auth_attrs"] = attributes
        aed["auth_encrypted_content_info"]["encrypted_content"] = sealed[:-16]
        aed["mac"] = mac_value or sealed[-16:]
        return info.dump(force=True)

    recipient = helpers.recipient(ec_pki)
    assert envelope.open_envelope(with_attributes(b"attribute"), recipient).content == CONTENT
    genuine_mac = cms.ContentInfo.load(with_attributes(b"attribute"))["content"]["mac"].native
    with pytest.raises(TamperedPacket, match="AES-GCM"):  # another attribute value under the first one's tag
        envelope.open_envelope(with_attributes(b"attributf", genuine_mac), recipient)


@pytest.mark.parametrize(("tag_bytes", "declared", "opens"), [
    (12, 12, True), (13, 13, True), (16, 16, True),  # RFC 5084 §3.2: 12 to 16 octets, as declared
    (16, 12, False), (12, 16, False), (11, 11, False), (17, 17, False),
])
def test_a_gcm_tag_is_as_long_as_declared_and_12_to_16_octets(ec_pki, helpers, tag_bytes, declared, opens):
    """A shorter tag is the full tag's leading octets (NIST SP 800-38D §5.2.1.2); no one we know writes one."""
    from crypto import envelope

    info = cms.ContentInfo.load(bytes(envelope.envelope(CONTENT, helpers.registry(ec_pki), content_type="data")))
    aed = info["content"]
    algorithm = aed["auth_encrypted_content_info"]["content_encryption_algorithm"]
    nonce = envelope.GcmParameters.load(algorithm["parameters"].dump())["aes_nonce"].native
    algorithm["parameters"] = envelope.GcmParameters({"aes_nonce": nonce, "aes_icvlen": declared})
    aed["mac"] = (aed["mac"].native + b"\x00")[:tag_bytes]
    data, recipient = info.dump(force=True), helpers.recipient(ec_pki)
    if opens:
        assert envelope.open_envelope(data, recipient).content == CONTENT
    else:
        with pytest.raises(MalformedPacket, match="GCM tag"):
            envelope.open_envelope(data, recipient)
