"""`enrol read-card` on the simulated reader, and the diagnosis of a CCID reader."""

import json

from drivers.device import DeviceKind
from drivers.discovery import discover_usb
from enrol.cli import main
from hardware_sim.ccid import CcidReaderSimulator
from station.config import DeviceConfig, simulated_station
from station.diagnostics import Status, diagnose


def test_read_card_prints_verified_demographics_and_every_step(capsys):
    assert main(["--lang", "en", "read-card", "--sim", "--seed", "4"]) == 0
    out = capsys.readouterr().out
    for text in ("full_name", "✔ SOD signature", "✔ Document Signer certificate", "✔ DG13 hash", "VERIFIED"):
        assert text in out


def test_read_card_json_with_cccd_access(capsys):
    from hardware_sim.citizens import make_citizen

    citizen = make_citizen(9)
    argv = ["read-card", "--sim", "--seed", "9", "--json", "--extended", "--id", citizen.personal_id,
            "--birth", citizen.birth_date.strftime("%y%m%d"), "--expiry", citizen.expiry_date.strftime("%y%m%d")]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verified"] and report["demographics"]["full_name"] == citizen.full_name
    assert [s["name"] for s in report["steps"]][:2] == ["BAC", "SOD structure"]


def test_read_card_with_the_wrong_details_fails_with_a_hint(capsys):
    assert main(["--lang", "en", "read-card", "--sim", "--mrz-info", "123456789:900101:300101"]) == 1
    err = capsys.readouterr().err
    assert "BAC refused" in err and "Hint:" in err


def test_read_card_rejects_malformed_details(capsys):
    assert main(["--lang", "en", "read-card", "--sim", "--id", "123"]) == 2
    assert main(["--lang", "en", "read-card", "--sim", "--mrz-info", "x"]) == 2


def test_read_card_without_a_configured_reader_is_a_usage_error(capsys):
    assert main(["--lang", "en", "read-card", "--mrz-info", "123456789:900101:300101"]) == 2


def test_diagnosis_self_tests_a_discovered_and_a_configured_ccid_reader():
    sim = CcidReaderSimulator()
    found = discover_usb(sim.backend)
    (report,) = diagnose(simulated_station(), found, usb_backend=sim.backend)
    assert report.kind is DeviceKind.CARD_READER and report.status is Status.OK
    assert "exchange level" in report.checks
    config = simulated_station()
    config.devices[DeviceKind.CARD_READER] = DeviceConfig(DeviceKind.CARD_READER, "ccid", settings={"speed": 1})
    (report,) = [r for r in diagnose(config, [], usb_backend=sim.backend) if r.configured]
    assert report.status is Status.MISCONFIGURED and "[devices.card_reader]" in report.hint


def test_an_error_without_a_citizen_message_prints_no_catalogue_header(capsys, monkeypatch):
    """_("") is the translation catalogue's header (Project-Id-Version ...), not an empty string."""
    from drivers.errors import ExplainedError
    from enrol.commands import card

    class Unexplained(ExplainedError):
        citizen_message = ""

    def fail(*args, **kwargs):
        raise Unexplained("the chip said something odd")

    monkeypatch.setattr(card, "read_identity_document", fail)
    assert main(["--lang", "vi", "read-card", "--sim"]) == 1
    err = capsys.readouterr().err
    assert "the chip said something odd" in err and "Project-Id-Version" not in err and "Content-Type" not in err


def test_a_card_with_a_malformed_portrait_reads_not_verified(capsys, monkeypatch):
    from hardware_sim import emrtd

    original = emrtd.build_files

    def broken_dg2(citizen, pki=None, **options):
        files = original(citizen, pki, **options)
        files["DG2"] = files["DG2"][:-40] + bytes(40)  # the JPEG's end zeroed: after signing, so DG2 hash fails
        return files

    monkeypatch.setattr(emrtd, "build_files", broken_dg2)
    assert main(["--lang", "en", "read-card", "--sim", "--seed", "4"]) == 1
    out = capsys.readouterr().out
    assert "✘ DG2 hash" in out and "✔ BAC" in out and "NOT VERIFIED" in out and "Traceback" not in out
