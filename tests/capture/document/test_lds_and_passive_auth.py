"""LDS parsing (EF.COM, DG1, DG2 JPEG and JPEG 2000, DG13) and every passive-authentication step."""

import datetime as dt

import pytest
from asn1crypto import cms, core
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from capture.document.lds import LdsError, parse_dg1, parse_dg2, parse_dg13, parse_ef_com
from capture.document.passive_auth import (
    ID_CSCA_MASTER_LIST,
    TrustStoreError,
    load_csca_store,
    load_master_list,
    passive_authentication,
)
from crypto.csca import CscaStore
from hardware_sim.citizens import make_citizen
from hardware_sim.emrtd import build_files, make_pki, run_pki


@pytest.fixture(scope="module")
def citizen():
    return make_citizen(11)


@pytest.fixture(scope="module")
def files(citizen):
    return build_files(citizen)


def _groups(files):
    return {name: data for name, data in files.items() if name.startswith("DG")}


def _trust():
    return CscaStore([run_pki().csca_certificate])


def test_lds_files_parse(files, citizen):
    assert parse_ef_com(files["COM"]).data_groups == ("DG1", "DG2", "DG13")
    assert parse_dg1(files["DG1"]).document_number == citizen.personal_id[3:]
    fields = parse_dg13(files["DG13"])
    assert fields["full_name"] == citizen.full_name and fields["sex"] in ("Nam", "Nữ")
    assert fields["father_name"] == citizen.father
    assert fields["date_of_birth"] == citizen.birth_date.strftime("%d/%m/%Y")
    (face,) = parse_dg2(files["DG2"])
    assert face.format == "jpeg" and face.pixels.shape == (320, 240, 3) and face.as_jpeg() == face.encoded


def test_jpeg2000_portrait_is_decoded_and_given_as_jpeg(citizen):
    (face,) = parse_dg2(build_files(citizen, jpeg2000=True)["DG2"])
    assert face.format == "jpeg2000" and face.pixels.shape == (320, 240, 3)
    assert face.as_jpeg()[:2] == b"\xff\xd8"


def test_malformed_files_are_named(files):
    with pytest.raises(LdsError, match="DG2"):
        parse_dg2(files["DG2"][:-10])
    broken = bytearray(files["DG2"])
    broken[broken.index(b"FAC\x00")] = ord("X")
    with pytest.raises(LdsError, match="facial record"):
        parse_dg2(bytes(broken))
    with pytest.raises(LdsError, match="DG13"):
        parse_dg13(files["DG1"])


def test_passive_authentication_passes_every_step(files):
    steps = passive_authentication(files["SOD"], _groups(files), _trust())
    assert [s.name for s in steps] == ["SOD structure", "SOD signed attributes", "SOD signature",
                                       "Document Signer certificate", "DG1 hash", "DG2 hash", "DG13 hash"]
    assert all(s.passed for s in steps), steps


def test_a_tampered_data_group_fails_its_hash(citizen):
    tampered = build_files(citizen, tamper="DG13")
    steps = {s.name: s for s in passive_authentication(tampered["SOD"], _groups(tampered), _trust())}
    assert steps["DG13 hash"].passed is False and "altered" in steps["DG13 hash"].detail
    assert steps["SOD signature"].passed and steps["DG1 hash"].passed


def test_an_unknown_csca_fails_the_chain(files):
    other = CscaStore([make_pki(csca_name="Test CSCA Vietnam").csca_certificate])  # same name, other key
    steps = {s.name: s for s in passive_authentication(files["SOD"], _groups(files), other)}
    assert steps["Document Signer certificate"].passed is False
    assert "is not signed by CN=Test CSCA Vietnam" in steps["Document Signer certificate"].detail
    unrelated = CscaStore([make_pki(csca_name="Other country").csca_certificate])
    steps = {s.name: s for s in passive_authentication(files["SOD"], _groups(files), unrelated)}
    assert "no CSCA" in steps["Document Signer certificate"].detail
    assert "no trusted issuer named" in steps["Document Signer certificate"].detail


def test_an_expired_document_signer_fails(files):
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=11 * 365)
    steps = {s.name: s for s in passive_authentication(files["SOD"], _groups(files), _trust(), now=later)}
    assert steps["Document Signer certificate"].passed is False


def test_a_forged_signature_fails(files):
    sod = bytearray(files["SOD"])
    sod[-5] ^= 0x01  # inside the signature value at the end of the SignerInfo
    steps = {s.name: s for s in passive_authentication(bytes(sod), _groups(files), _trust())}
    assert steps["SOD signature"].passed is False


def test_an_unreadable_sod_leaves_every_other_step_unperformed(files):
    steps = passive_authentication(b"\x77\x03\x01\x02\x03", _groups(files), _trust())
    assert steps[0].passed is False and all(s.passed is None for s in steps[1:])


def test_a_data_group_the_sod_does_not_list_fails(files):
    groups = {**_groups(files), "DG11": b"\x6b\x00"}
    steps = {s.name: s for s in passive_authentication(files["SOD"], groups, _trust())}
    assert steps["DG11 hash"].passed is False


def test_rsa_document_signer(citizen):
    pki = make_pki(algorithm="rsa")
    rsa_files = build_files(citizen, pki)
    steps = passive_authentication(rsa_files["SOD"], _groups(rsa_files), CscaStore([pki.csca_certificate]))
    assert all(s.passed for s in steps), steps


def test_trust_store_from_a_folder_with_a_pem_and_a_master_list(tmp_path, files):
    other = make_pki(csca_name="Other country")
    (tmp_path / "vn.pem").write_bytes(run_pki().csca_pem())
    der = [core.Any.load(c.public_bytes(serialization.Encoding.DER)) for c in (other.csca_certificate,)]

    class MasterList(core.Sequence):
        _fields = [("version", core.Integer), ("certList", core.SetOf, {"spec": core.Any})]

    content = MasterList({"version": 0, "certList": der}).dump()
    signed = cms.SignedData({"version": "v3", "digest_algorithms": [], "signer_infos": [],
                             "encap_content_info": {"content_type": ID_CSCA_MASTER_LIST, "content": content}})
    master_list = cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()
    assert load_master_list(master_list)[0].subject == other.csca_certificate.subject
    (tmp_path / "icao.ml").write_bytes(master_list)
    store = load_csca_store(tmp_path)
    assert len(store.anchors) == 2
    assert all(s.passed for s in passive_authentication(files["SOD"], _groups(files), store))


def test_a_document_signer_no_csca_of_the_store_issued_fails_the_certificate_step(citizen):
    """A well-formed, correctly signed SOD from another PKI: a failed step, not an exception."""
    foreign = build_files(citizen, make_pki(csca_name="Forger's CSCA"))
    steps = {s.name: s for s in passive_authentication(foreign["SOD"], _groups(foreign), _trust())}
    assert steps["SOD signature"].passed and steps["DG13 hash"].passed
    assert steps["Document Signer certificate"].passed is False
    assert "no trusted issuer named" in steps["Document Signer certificate"].detail


def test_a_csca_re_issued_under_the_same_key_is_found_past_its_expired_copy(files):
    """Master lists carry every certificate of a CSCA key; the expired one must not hide the valid one."""
    pki = run_pki()
    now = dt.datetime.now(dt.UTC)
    csca = pki.csca_certificate
    expired = (x509.CertificateBuilder().subject_name(csca.subject).issuer_name(csca.subject)
               .public_key(pki.csca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=800)).not_valid_after(now - dt.timedelta(days=400))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .sign(pki.csca_key, hashes.SHA256()))
    steps = passive_authentication(files["SOD"], _groups(files), CscaStore([expired, csca]))
    assert all(s.passed for s in steps), steps
    alone = {s.name: s for s in passive_authentication(files["SOD"], _groups(files), CscaStore([expired]))}
    assert alone["Document Signer certificate"].passed is False


def test_a_csca_folder_that_cannot_be_a_trust_store_is_refused_with_the_reason(tmp_path):
    with pytest.raises(TrustStoreError, match="cannot read the CSCA folder"):
        load_csca_store(tmp_path / "missing")
    (tmp_path / "README.txt").write_text("not a certificate, and not read as one")
    with pytest.raises(TrustStoreError, match="holds no CSCA certificate"):
        load_csca_store(tmp_path)
    (tmp_path / "ds.pem").write_bytes(run_pki().ds_certificate.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(TrustStoreError, match=r"ds\.pem: CN=Test Document Signer 01,.* is not a CA"):
        load_csca_store(tmp_path)
    (tmp_path / "ds.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n")
    with pytest.raises(TrustStoreError, match=r"ds\.pem"):
        load_csca_store(tmp_path)
    (tmp_path / "ds.pem").unlink()
    (tmp_path / "broken.ml").write_bytes(b"\x30\x03\x02\x01\x00")
    with pytest.raises(TrustStoreError, match=r"broken\.ml: not an ICAO master list"):
        load_csca_store(tmp_path)
