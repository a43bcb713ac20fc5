"""Shared material for the crypto tests: development PKIs (EC and RSA registry keys) made once per session."""

from __future__ import annotations

import pytest

from crypto.keys import RecipientKey, load_certificate
from crypto.pki import DevPki, StationSubject, create_dev_pki
from crypto.trust import TrustStore

SUBJECT = StationSubject("NA-HUNGDUNG-01", "40", "412")


@pytest.fixture(scope="session")
def ec_pki(tmp_path_factory) -> DevPki:
    return create_dev_pki(tmp_path_factory.mktemp("pki-ec"), SUBJECT, registry_key_type="ec")


@pytest.fixture(scope="session")
def rsa_pki(tmp_path_factory) -> DevPki:
    return create_dev_pki(tmp_path_factory.mktemp("pki-rsa"), SUBJECT, registry_key_type="rsa")


@pytest.fixture(params=["ec", "rsa"])
def pki(request, ec_pki, rsa_pki) -> DevPki:
    """Each test that takes ``pki`` runs for both key-transport kinds (ECDH and RSA-OAEP)."""
    return ec_pki if request.param == "ec" else rsa_pki


def recipient_of(pki: DevPki) -> RecipientKey:
    return RecipientKey.from_files(pki.registry_key, pki.registry_certificate)


def station_trust(pki: DevPki) -> TrustStore:
    return TrustStore([load_certificate(pki.station_ca)])


def registry_certificate(pki: DevPki):
    return load_certificate(pki.registry_certificate)


@pytest.fixture
def helpers():
    """The module's helper functions, for test files loaded with --import-mode=importlib."""

    class Helpers:
        recipient = staticmethod(recipient_of)
        trust = staticmethod(station_trust)
        registry = staticmethod(registry_certificate)

    return Helpers


