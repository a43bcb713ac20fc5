"""The receiver over real TLS (uvicorn): client certificates required and checked against the station CA."""

from __future__ import annotations

import ssl

import httpx
import pytest

from crypto.keys import load_certificate
from crypto.pki import StationSubject, create_dev_pki
from crypto.seal import seal
from packet.build import build_packet

SUBJECT = StationSubject("NA-HUNGDUNG-01", "40", "412")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return create_dev_pki(tmp_path_factory.mktemp("pki"), SUBJECT)


@pytest.fixture(scope="module")
def receiver(pki, synthetic, tmp_path_factory):
    running = synthetic.RunningReceiver(synthetic.receiver_settings(pki, tmp_path_factory.mktemp("rx"))).start()
    yield running
    running.stop()


def _client(pki, *, certificate=True, other=None):
    context = ssl.create_default_context(cafile=str(pki.root))
    if certificate:
        source = other or pki
        context.load_cert_chain(source.station_certificate, source.station_key,
                                password=source.station_passphrase.read_bytes().strip())
    return context


def test_health_and_put_and_receipt(receiver, pki, synthetic):
    record = synthetic.record(fingers=1)
    sealed = seal(build_packet(record), pki.station_signer(), load_certificate(pki.registry_certificate))
    with httpx.Client(base_url=receiver.url, verify=_client(pki)) as client:
        assert client.get("/health").json()["status"] == "ok"
        first = client.put(f"/v1/packets/{record.packet_id}", content=sealed)
        assert first.status_code == 201
        again = client.put(f"/v1/packets/{record.packet_id}", content=sealed)
        assert again.status_code == 200 and again.content == first.content
        assert client.get(f"/v1/packets/{record.packet_id}/receipt").content == first.content
        missing = client.get("/v1/packets/00000000-0000-4000-8000-000000000000/receipt")
        assert missing.status_code == 404
        refused = client.put("/v1/packets/00000000-0000-4000-8000-000000000000", content=b"junk")
        assert refused.status_code == 422 and refused.json()["error"] == "malformed"


def test_client_without_certificate_is_refused(receiver, pki):
    context = _client(pki, certificate=False)
    with pytest.raises(httpx.HTTPError), httpx.Client(base_url=receiver.url, verify=context) as client:
        client.get("/health").raise_for_status()


def test_client_certificate_of_another_ca_is_refused(receiver, pki, tmp_path):
    other = create_dev_pki(tmp_path / "other", SUBJECT)
    with pytest.raises(httpx.HTTPError), httpx.Client(base_url=receiver.url, verify=_client(pki, other=other)) as c:
        c.get("/health").raise_for_status()
