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


def test_keys_init_with_an_unwritable_request_keeps_the_station_key(tmp_path, capsys):
    """--force replaces the key only once its certificate request is written: a request that cannot be
    written (here into a folder that does not exist) leaves the key, and the certificate installed for it."""
    (tmp_path / "pass").write_text("station passphrase\n")
    config = str(_config(tmp_path, f'[keys]\nkey_file = "{tmp_path / "station.key"}"\n'
                                   f'passphrase_file = "{tmp_path / "pass"}"\n'))
    init = ["--lang", "en", "--config", config, "keys", "init", "--province", "40", "--district", "412"]
    assert main(init) == 0
    key = (tmp_path / "station.key").read_bytes()
    capsys.readouterr()
    assert main([*init, "--force", "--csr", str(tmp_path / "missing" / "new.csr")]) == 74
    assert "missing" in capsys.readouterr().err
    assert (tmp_path / "station.key").read_bytes() == key
    assert main([*init, "--force"]) == 0 and (tmp_path / "station.key").read_bytes() != key


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


# -- exit codes scripts can trust, and a lost database (issue 13) ---------------------------------------

UNREACHABLE = '[outbox]\nreceiver_url = "https://127.0.0.1:9"\n'
"""A receiver nobody listens at (the discard port): every upload is refused a connection at once."""


def _one_sealed(tmp_path: Path, capsys, synthetic, extra: str = "") -> tuple[Path, str]:
    """A simulated station's configuration with one sealed packet in its outbox; the packet id.  What
    was printed meanwhile is dropped (logging through an earlier test's console reports its closed stream)."""
    from station.config import load_config
    from station.identity import load_identity
    from station.outbox.sealing import seal_record
    from station.services import open_outbox

    config_path = _config(tmp_path, extra)
    config = load_config(config_path)
    outbox = open_outbox(config)
    row = seal_record(synthetic.record(fingers=1), load_identity(config), outbox)
    outbox.close()
    capsys.readouterr()
    return config_path, row.packet_id


def _run(config_path: Path, *args: str) -> int:
    return main(["--lang", "en", "--config", str(config_path), "outbox", *args])


def test_upload_fails_while_packets_remain_pending_and_says_how_many(tmp_path, capsys, synthetic):
    config_path, _packet_id = _one_sealed(tmp_path, capsys, synthetic, UNREACHABLE)
    assert _run(config_path, "upload") == 1
    captured = capsys.readouterr()
    assert "0 acknowledged, 1 to retry" in captured.out and "1 packet(s) still pending" in captured.err


def test_upload_of_an_empty_outbox_succeeds(tmp_path, capsys):
    config_path = _config(tmp_path, UNREACHABLE)
    assert _run(config_path, "upload") == 0
    assert "still pending" not in capsys.readouterr().err


def test_a_quarantined_packet_keeps_upload_failing_and_status_names_it(tmp_path, capsys, synthetic):
    config_path, packet_id = _one_sealed(tmp_path, capsys, synthetic, UNREACHABLE)
    packet = tmp_path / "data" / "outbox" / "packets" / f"{packet_id}.p7m"
    packet.unlink()
    assert _run(config_path, "upload") == 1
    assert "1 quarantined" in capsys.readouterr().out
    assert _run(config_path, "status") == 0
    out = capsys.readouterr().out
    assert "Quarantined: their files cannot be read" in out
    assert f"{packet_id}: unreadable (ENOENT): No such file or directory" in out
    assert _run(config_path, "status", "--json") == 0
    quarantined = json.loads(capsys.readouterr().out)["quarantined"]
    assert quarantined == {packet_id: "unreadable (ENOENT): No such file or directory"}


def test_receipts_of_a_missing_or_empty_folder_fail_and_say_so(tmp_path, capsys):
    config_path = _config(tmp_path)
    assert _run(config_path, "receipts", str(tmp_path / "no-such-stick")) == 1
    assert "There is no folder" in capsys.readouterr().err
    (tmp_path / "empty-stick").mkdir()
    assert _run(config_path, "receipts", str(tmp_path / "empty-stick")) == 1
    assert "No receipts (*.receipt.p7s)" in capsys.readouterr().err


def test_status_upload_and_export_over_a_corrupt_database_work_from_the_rebuilt_one(tmp_path, capsys, synthetic):
    config_path, packet_id = _one_sealed(tmp_path, capsys, synthetic, UNREACHABLE)
    (tmp_path / "data" / "outbox" / "outbox.sqlite").write_bytes(b"scrambled by a power cut" * 300)
    assert _run(config_path, "status", "--json") == 0
    assert json.loads(capsys.readouterr().out)["counts"]["sealed"] == 1
    assert _run(config_path, "upload") == 1
    assert _run(config_path, "export", str(tmp_path / "usb")) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err and "1 packet(s) copied" in captured.out
    assert (tmp_path / "usb" / f"{packet_id}.p7m").is_file()
    assert len(list((tmp_path / "data" / "outbox").glob("outbox.sqlite.corrupt-*"))) == 1


def test_a_database_that_cannot_be_opened_is_a_message_and_export_copies_from_the_files(tmp_path, capsys, synthetic):
    config_path, packet_id = _one_sealed(tmp_path, capsys, synthetic, UNREACHABLE)
    database = tmp_path / "data" / "outbox" / "outbox.sqlite"
    database.unlink()
    database.mkdir()
    for command in ("status", "upload", "retry"):
        assert _run(config_path, command) == 1
        captured = capsys.readouterr()
        assert "The outbox cannot be opened" in captured.err and "Traceback" not in captured.out + captured.err
    assert _run(config_path, "export", str(tmp_path / "usb")) == 0
    captured = capsys.readouterr()
    assert "copying every packet without a stored receipt from the packet files" in captured.err
    assert "1 packet(s) copied" in captured.out and (tmp_path / "usb" / f"{packet_id}.p7m").is_file()
