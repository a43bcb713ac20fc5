"""``enrol keys | pki | outbox | receiver`` on the command line."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography import x509

from crypto.keys import load_certificate
from crypto.pki import DevPki, issue_station_certificate
from enrol.cli import main


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "station.toml"
    # simulated: the development PKI; only the simulated station makes one
    path.write_text(f'[station]\nid = "NA-HUNGDUNG-01"\nsimulated = true\n'
                    f'[paths]\ndata_dir = "{tmp_path / "data"}"\n{extra}')
    return path


def test_pki_dev_then_outbox_status(tmp_path, capsys):
    config = str(_config(tmp_path))
    assert main(["--lang", "en", "--config", config, "pki", "dev"]) == 0
    out = capsys.readouterr().out
    assert "NOT FOR PRODUCTION" in out and DevPki(tmp_path / "data" / "dev-pki").complete
    assert "NOT FOR PRODUCTION" in (tmp_path / "data" / "dev-pki" / "README.txt").read_text()
    assert main(["--lang", "en", "--config", config, "outbox", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["counts"]["sealed"] == 0 and status["free_bytes"] > 0


def test_keys_init_and_install(tmp_path, capsys):
    main(["--config", str(_config(tmp_path)), "pki", "dev"])
    pki = DevPki(tmp_path / "data" / "dev-pki")
    (tmp_path / "pass").write_text("station passphrase\n")
    config = str(_config(tmp_path, f'[keys]\nkey_file = "{tmp_path / "station.key"}"\n'
                                   f'passphrase_file = "{tmp_path / "pass"}"\n'
                                   f'certificate = "{tmp_path / "station.pem"}"\nstation_ca = "{pki.station_ca}"\n'))
    assert main(["--lang", "en", "--config", config, "keys", "init", "--province", "40", "--district", "412"]) == 0
    csr = (tmp_path / "station.csr").read_bytes()
    subject = x509.load_pem_x509_csr(csr).subject
    assert subject.get_attributes_for_oid(x509.NameOID.STATE_OR_PROVINCE_NAME)[0].value == "40"
    assert main(["--lang", "en", "--config", config, "keys", "init", "--province", "40", "--district", "412"]) == 2
    issued = issue_station_certificate(csr, load_certificate(pki.station_ca), pki.ca_key(pki.station_ca_key))
    from cryptography.hazmat.primitives.serialization import Encoding

    (tmp_path / "issued.pem").write_bytes(issued.public_bytes(Encoding.PEM))
    assert main(["--lang", "en", "--config", config, "keys", "install", str(tmp_path / "issued.pem")]) == 0
    assert load_certificate(tmp_path / "station.pem") == issued
    capsys.readouterr()
    # a certificate for another key is refused, and the installed one stays
    assert main(["--lang", "en", "--config", config, "keys", "install", str(pki.station_certificate)]) == 1
    assert "Certificate refused" in capsys.readouterr().err
    assert load_certificate(tmp_path / "station.pem") == issued


def test_export_then_receiver_import(tmp_path, capsys, synthetic):
    from station.config import load_config
    from station.identity import load_identity
    from station.outbox.sealing import seal_record
    from station.services import open_outbox

    config_path = _config(tmp_path)
    config = load_config(config_path)
    outbox = open_outbox(config)
    row = seal_record(synthetic.record(fingers=1), load_identity(config), outbox)
    stick = tmp_path / "usb"
    assert main(["--lang", "en", "--config", str(config_path), "outbox", "export", str(stick)]) == 0
    assert main(["--lang", "en", "--config", str(config_path), "receiver", "import", str(stick)]) == 0
    assert "1 stored" in capsys.readouterr().out
    assert (stick / f"{row.packet_id}.receipt.p7s").is_file()
    assert synthetic.scan_for_plaintext(tmp_path / "data") == []
    # Back at the station, the receipts on the stick acknowledge the packet without any network.
    capsys.readouterr()
    assert main(["--lang", "en", "--config", str(config_path), "outbox", "receipts", str(stick)]) == 0
    assert "1 acknowledged, 0 already" in capsys.readouterr().out
    assert open_outbox(config).get(row.packet_id).state == "acknowledged"
    assert main(["--lang", "en", "--config", str(config_path), "outbox", "receipts", str(stick)]) == 0
    assert "0 acknowledged, 1 already" in capsys.readouterr().out


def test_a_receipt_for_other_bytes_acknowledges_nothing(tmp_path, capsys, synthetic):
    from station.config import load_config
    from station.identity import load_identity
    from station.outbox.sealing import seal_record
    from station.services import open_outbox

    config_path = _config(tmp_path)
    config = load_config(config_path)
    outbox = open_outbox(config)
    first = seal_record(synthetic.record(fingers=1), load_identity(config), outbox)
    second = seal_record(synthetic.record(fingers=1), load_identity(config), outbox)
    stick = tmp_path / "usb"
    assert main(["--config", str(config_path), "outbox", "export", str(stick)]) == 0
    assert main(["--config", str(config_path), "receiver", "import", str(stick)]) == 0
    # Swap the receipts: each is genuine, but for the other packet.
    a, b = (stick / f"{row.packet_id}.receipt.p7s" for row in (first, second))
    a_bytes, b_bytes = a.read_bytes(), b.read_bytes()
    a.write_bytes(b_bytes)
    b.write_bytes(a_bytes)
    (stick / "00000000-0000-4000-8000-000000000000.receipt.p7s").write_bytes(a_bytes)
    capsys.readouterr()
    assert main(["--lang", "en", "--config", str(config_path), "outbox", "receipts", str(stick)]) == 1
    captured = capsys.readouterr()
    assert "0 acknowledged, 0 already acknowledged, 1 not from this station, 2 rejected" in captured.out
    assert "is for packet" in captured.err
    assert {open_outbox(config).get(row.packet_id).state for row in (first, second)} == {"sealed"}
