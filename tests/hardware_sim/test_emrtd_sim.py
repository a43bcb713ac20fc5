"""The simulated chip, the synthetic citizens and the vicc side of the vpcd protocol."""

import socket
import threading

from capture.document.mrz import cccd_personal_id, parse_mrz
from capture.document.personal_id import check_personal_id
from hardware_sim.citizens import make_citizen
from hardware_sim.emrtd import EmrtdChip
from hardware_sim.vpcd import VirtualCard

SELECT_AID = bytes.fromhex("00A4040C07A0000002471001")


def test_citizens_are_deterministic_and_follow_the_id_rules():
    assert make_citizen(3) == make_citizen(3) and make_citizen(3) != make_citizen(4)
    for seed in range(40):
        citizen = make_citizen(seed)
        mrz = parse_mrz("\n".join(citizen.mrz_lines))  # every check digit right
        assert cccd_personal_id(mrz) == citizen.personal_id
        assert check_personal_id(citizen.personal_id, birth_date=citizen.birth_date, sex=citizen.sex_vi) == []
        assert citizen.expiry_date > citizen.issue_date
    assert any(any(ch in make_citizen(s).full_name for ch in "ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ")
               for s in range(10))


def test_files_need_bac_first():
    chip = EmrtdChip(make_citizen(1))
    assert chip.process(SELECT_AID) == b"\x90\x00"
    assert chip.process(bytes.fromhex("00B0810004")) == b"\x69\x82"  # READ BINARY DG1 by SFI, no BAC
    assert chip.process(bytes.fromhex("00A4020C020101")) == b"\x69\x82"
    assert chip.process(bytes.fromhex("0082000028") + bytes(40) + b"\x28") == b"\x69\x85"  # no challenge yet
    assert len(chip.process(bytes.fromhex("0084000008"))) == 10
    assert chip.process(bytes.fromhex("0082000028") + bytes(40) + b"\x28") == b"\x63\x00"  # wrong keys


def test_malformed_apdus_and_sm_without_session():
    chip = EmrtdChip(make_citizen(1))
    assert chip.process(bytes.fromhex("00A4040C09A000")) == b"\x67\x00"
    assert chip.process(bytes.fromhex("0CB000000D9701048E08ED6705417E96BA5500")) == b"\x69\x88"


def test_vicc_speaks_the_vpcd_framing():
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    chip = EmrtdChip(make_citizen(1))
    card = VirtualCard(chip, port=port)
    threading.Thread(target=card.insert, daemon=True).start()
    connection, _ = server.accept()

    def ask(payload: bytes) -> bytes:
        connection.sendall(len(payload).to_bytes(2, "big") + payload)
        size = int.from_bytes(connection.recv(2), "big")
        return connection.recv(size)

    connection.sendall(b"\x00\x01\x01")  # power on: no answer
    assert ask(b"\x04") == chip.atr
    assert ask(SELECT_AID) == b"\x90\x00"
    card.remove()
    assert connection.recv(2) == b""  # the card is gone
    connection.close()
    server.close()
