"""The R30x simulator on its own, spoken to with raw bytes over pyserial (not through the driver).

Packets are built here from the datasheet's layout, independently of both the driver and the
simulator, so a shared misunderstanding would show up as a failure here or in the driver's tests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
import serial

from hardware_sim.r30x import R30xSimulator

BROADCAST = 0xFFFFFFFF


def packet(pid: int, payload: bytes, address: int = BROADCAST) -> bytes:
    """EF 01 | address | PID | length (payload + 2) | payload | sum of PID, length and payload."""
    length = len(payload) + 2
    summed = pid + (length >> 8) + (length & 0xFF) + sum(payload)
    return (
        b"\xef\x01"
        + address.to_bytes(4, "big")
        + bytes([pid])
        + length.to_bytes(2, "big")
        + payload
        + (summed & 0xFFFF).to_bytes(2, "big")
    )


def command(instruction: int, params: bytes = b"", address: int = BROADCAST) -> bytes:
    return packet(0x01, bytes([instruction]) + params, address)


def ack(code: int, extra: bytes = b"", address: int = BROADCAST) -> bytes:
    return packet(0x07, bytes([code]) + extra, address)


def ask(port: serial.Serial, request: bytes, reply_size: int) -> bytes:
    port.reset_input_buffer()
    port.write(request)
    return port.read(reply_size)


@pytest.fixture
def sim() -> Iterator[R30xSimulator]:
    with R30xSimulator() as simulator:
        yield simulator


@pytest.fixture
def line(sim: R30xSimulator) -> Iterator[serial.Serial]:
    with serial.Serial(sim.port, 57600, timeout=0.5) as port:
        yield port


def test_genimg_without_a_finger_answers_no_finger(sim: R30xSimulator, line: serial.Serial) -> None:
    # Datasheet example: GenImg EF01FFFFFFFF010003010005 -> acknowledgement with code 02.
    assert ask(line, bytes.fromhex("EF01FFFFFFFF010003010005"), 12) == bytes.fromhex("EF01FFFFFFFF07000302000C")
    assert sim.commands_seen == [0x01]


def test_password_rules() -> None:
    with R30xSimulator(password=0x01020304) as sim, serial.Serial(sim.port, 57600, timeout=0.5) as port:
        assert ask(port, command(0x01), 12) == ack(0x21)  # verify the password first
        assert ask(port, command(0x13, bytes(4)), 12) == ack(0x13)  # wrong password
        assert ask(port, command(0x13, bytes([1, 2, 3, 4])), 12) == ack(0x00)
        assert ask(port, command(0x01), 12) == ack(0x02)
        sim.power_cycle()  # verification lives in RAM
        assert ask(port, command(0x01), 12) == ack(0x21)


def test_packets_for_another_address_are_ignored() -> None:
    with R30xSimulator(address=0x0A0B0C0D) as sim, serial.Serial(sim.port, 57600, timeout=0.3) as port:
        assert ask(port, command(0x01), 12) == b""
        assert sim.commands_seen == []
        assert ask(port, command(0x01, address=0x0A0B0C0D), 12) == ack(0x02, address=0x0A0B0C0D)


def test_bad_checksum_from_the_host_is_a_receive_error(sim: R30xSimulator, line: serial.Serial) -> None:
    request = bytearray(command(0x01))
    request[-1] ^= 0xFF
    assert ask(line, bytes(request), 12) == ack(0x01)
    assert sim.commands_seen == []


def test_readsyspara_reports_the_configuration() -> None:
    options = dict(address=0x11223344, system_id=0x0009, library_size=300, security_level=4, packet_size=256)
    with R30xSimulator(**options) as sim, serial.Serial(sim.port, 57600, timeout=0.5) as port:  # type: ignore[arg-type]
        reply = ask(port, command(0x0F, address=0x11223344), 28)
    params = bytes.fromhex("0004" "0009" "012C" "0004" "11223344" "0003" "0006")  # status: password verified
    assert reply == ack(0x00, params, address=0x11223344)


def test_upload_is_paced_at_the_baud_rate_and_packs_nibbles(sim: R30xSimulator, line: serial.Serial) -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(288, 256), dtype=np.uint8)
    sim.place_finger(image)
    assert ask(line, command(0x0E, bytes([4, 12])), 12) == ack(0x00)
    line.baudrate = 115200
    assert ask(line, command(0x01), 12) == ack(0x00)
    total = 12 + 288 * (11 + 128)
    line.timeout = 8
    started = time.monotonic()
    line.write(command(0x0A))
    stream = line.read(total)
    elapsed = time.monotonic() - started
    wire_time = (12 + total) * 10 / 115200
    assert elapsed >= wire_time * 0.99  # never faster than the wire (allowing for clock granularity)
    assert elapsed < wire_time * 2  # generous: paced, not stalled
    assert stream[:12] == ack(0x00)
    data = bytearray()
    position = 12
    for index in range(288):
        header = stream[position : position + 9]
        assert header[:6] == b"\xef\x01\xff\xff\xff\xff"
        assert header[6] == (0x08 if index == 287 else 0x02)
        payload = stream[position + 9 : position + 9 + 128]
        assert stream[position + 137 : position + 139] == packet(header[6], payload)[-2:]
        data += payload
        position += 139
    packed = np.frombuffer(bytes(data), dtype=np.uint8).reshape(288, 128)
    np.testing.assert_array_equal(packed >> 4, image[:, 0::2] >> 4)
    np.testing.assert_array_equal(packed & 0x0F, image[:, 1::2] >> 4)


def test_upload_without_an_image_fails(sim: R30xSimulator, line: serial.Serial) -> None:
    assert ask(line, command(0x0A), 12) == ack(0x0F)


def test_host_at_another_speed_gets_garbage(sim: R30xSimulator, line: serial.Serial) -> None:
    line.baudrate = 115200
    assert ask(line, command(0x01), 12) == b""  # the module received garbage and said nothing
    assert sim.commands_seen == []
    line.baudrate = 57600
    sim.place_finger(np.full((288, 256), 200, dtype=np.uint8))
    assert ask(line, command(0x01), 12) == ack(0x00)
    line.write(command(0x0A))
    assert line.read(12) == ack(0x00)
    line.baudrate = 9600  # the host changes speed while the module streams at 57600
    time.sleep(0.05)
    line.reset_input_buffer()  # what arrived before the change was still readable
    line.timeout = 0.5
    received = line.read(4000)
    assert 0 < len(received) < 4000  # fewer bytes: the host's UART is 6 times slower
    assert b"\xef\x01\xff\xff\xff\xff" not in received


def test_baud_change_applies_immediately(sim: R30xSimulator, line: serial.Serial) -> None:
    assert ask(line, command(0x0E, bytes([4, 12])), 12) == ack(0x00)  # acknowledged at the old rate
    assert (sim.baud, sim.stored_baud) == (115200, 115200)
    line.baudrate = 115200
    assert ask(line, command(0x01), 12) == ack(0x02)


def test_baud_change_after_power_cycle() -> None:
    with R30xSimulator(baud_applies="after_power_cycle") as sim, serial.Serial(sim.port, 57600, timeout=0.5) as port:
        assert ask(port, command(0x0E, bytes([4, 12])), 12) == ack(0x00)
        assert ask(port, command(0x01), 12) == ack(0x02)  # still at 57600
        assert ask(port, command(0x0F), 28)[-4:-2] == b"\x00\x0c"  # but N = 12 is stored
        sim.power_cycle()
        assert ask(port, command(0x01), 12) == b""
        port.baudrate = 115200
        assert ask(port, command(0x01), 12) == ack(0x02)


def test_invalid_system_parameter_is_refused(sim: R30xSimulator, line: serial.Serial) -> None:
    assert ask(line, command(0x0E, bytes([4, 13])), 12) == ack(0x1A)
    assert ask(line, command(0x0E, bytes([9, 1])), 12) == ack(0x1A)
    assert sim.baud == 57600


def test_replies_garbled_above_the_max_working_baud() -> None:
    with R30xSimulator(max_working_baud=57600) as sim, serial.Serial(sim.port, 57600, timeout=0.3) as port:
        assert ask(port, command(0x0E, bytes([4, 12])), 12) == ack(0x00)
        port.baudrate = 115200
        for _ in range(5):
            assert ask(port, command(0x01), 12) != ack(0x02)
        assert sim.commands_seen.count(0x01) == 5  # it understood; its answers do not come through


def test_faults_noise_corruption_and_stall(sim: R30xSimulator, line: serial.Serial) -> None:
    sim.inject_noise(20)
    reply = ask(line, command(0x01), 32)
    assert len(reply) == 32 and reply[20:] == ack(0x02)
    sim.corrupt_next_packet()
    reply = ask(line, command(0x01), 12)
    assert reply[:-2] == ack(0x02)[:-2] and reply[-2:] != ack(0x02)[-2:]
    sim.stall(0.6)
    assert ask(line, command(0x01), 12) == b""  # lost while stalled
    time.sleep(0.3)
    assert ask(line, command(0x01), 12) == ack(0x02)


def test_corrupt_a_chosen_data_packet(sim: R30xSimulator, line: serial.Serial) -> None:
    sim.place_finger(np.full((288, 256), 100, dtype=np.uint8))
    assert ask(line, command(0x01), 12) == ack(0x00)
    assert ask(line, command(0x0E, bytes([6, 3])), 12) == ack(0x00)  # 256-byte packets: 144 of them
    sim.corrupt_data_packet(2)
    stream = ask(line, command(0x0A), 12 + 5 * 267)  # the first 5 of them
    packets = [stream[12 + i * 267 : 12 + (i + 1) * 267] for i in range(5)]
    bad = [i for i, p in enumerate(packets) if packet(p[6], p[9:-2]) != p]
    assert bad == [2]


def test_unplug_and_replug_keep_the_path(sim: R30xSimulator) -> None:
    port = serial.Serial(sim.port, 57600, timeout=0.5)
    assert ask(port, command(0x01), 12) == ack(0x02)
    sim.unplug()
    with pytest.raises(serial.SerialException):
        port.read(1)
    port.close()
    with pytest.raises(serial.SerialException):
        serial.Serial(sim.port, 57600)
    sim.replug()
    with serial.Serial(sim.port, 57600, timeout=0.5) as again:
        assert ask(again, command(0x01), 12) == ack(0x02)


def test_unplug_during_upload(sim: R30xSimulator, line: serial.Serial) -> None:
    sim.place_finger(np.full((288, 256), 100, dtype=np.uint8))
    assert ask(line, command(0x01), 12) == ack(0x00)
    sim.unplug_during_upload(after_packets=3)
    line.write(command(0x0A))
    received = b""
    with pytest.raises(serial.SerialException):
        while True:
            received += line.read(1)
    # Bytes still in the pty when it vanished may be lost, as with a real adapter: at most one slice.
    assert 12 + 2 * 139 < len(received) <= 12 + 3 * 139


def test_feature_commands(sim: R30xSimulator, line: serial.Serial) -> None:
    rng = np.random.default_rng(5)
    finger = np.clip(rng.normal(128, 60, size=(288, 256)), 0, 255).astype(np.uint8)
    other = np.clip(rng.normal(128, 60, size=(288, 256)), 0, 255).astype(np.uint8)
    assert ask(line, command(0x02, b"\x01"), 12) == ack(0x15)  # no image yet
    sim.place_finger(np.full((288, 256), 240, dtype=np.uint8))
    assert ask(line, command(0x01), 12) == ack(0x00)
    assert ask(line, command(0x02, b"\x01"), 12) == ack(0x07)  # blank glass: too few features
    sim.place_finger(finger)
    for buffer in (1, 2):
        assert ask(line, command(0x01), 12) == ack(0x00)
        assert ask(line, command(0x02, bytes([buffer])), 12) == ack(0x00)
    assert ask(line, command(0x05), 12) == ack(0x00)
    assert ask(line, command(0x04, bytes.fromhex("01" "0000" "00A2")), 16) == ack(0x09, bytes(4))
    assert ask(line, command(0x06, bytes.fromhex("01" "0007")), 12) == ack(0x00)
    assert ask(line, command(0x06, bytes.fromhex("01" "00A2")), 12) == ack(0x0B)  # page 162 of 0..161
    assert ask(line, command(0x1D), 14) == ack(0x00, b"\x00\x01")
    found = ask(line, command(0x04, bytes.fromhex("01" "0000" "00A2")), 16)
    assert found[9:12] == b"\x00\x00\x07"  # OK, page 7
    sim.place_finger(other)
    assert ask(line, command(0x01), 12) == ack(0x00)
    assert ask(line, command(0x02, b"\x01"), 12) == ack(0x00)
    assert ask(line, command(0x04, bytes.fromhex("01" "0000" "00A2")), 16) == ack(0x09, bytes(4))
    assert ask(line, command(0x0D), 12) == ack(0x00)
    assert ask(line, command(0x1D), 14) == ack(0x00, b"\x00\x00")


def test_led_echo_random_and_address_commands() -> None:
    with R30xSimulator(has_led=True) as sim, serial.Serial(sim.port, 57600, timeout=0.5) as port:
        assert ask(port, command(0x35, bytes([1, 0x80, 3, 0])), 12) == ack(0x00)
        assert sim.led == (1, 0x80, 3, 0)
        assert ask(port, command(0x53), 12) == ack(0x55)
        assert ask(port, command(0x14), 16)[9] == 0x00
        assert ask(port, command(0x15, bytes.fromhex("CAFEF00D")), 12) == ack(0x00, address=0xCAFEF00D)
        assert ask(port, command(0x01), 12) == b""  # the old address is no longer answered
        assert ask(port, command(0x01, address=0xCAFEF00D), 12) == ack(0x02, address=0xCAFEF00D)
    with R30xSimulator(has_led=False) as sim, serial.Serial(sim.port, 57600, timeout=0.5) as port:
        assert ask(port, command(0x35, bytes([1, 0x80, 3, 0])), 12)[9] != 0x00
        assert sim.led is None


def test_place_finger_fits_the_sensor(sim: R30xSimulator, line: serial.Serial) -> None:
    sim.place_finger(np.full((400, 300), 90, dtype=np.uint8))
    assert ask(line, command(0x01), 12) == ack(0x00)
    assert sim.image_buffer is not None and sim.image_buffer.shape == (288, 256)
    with pytest.raises(ValueError, match="uint8"):
        sim.place_finger(np.zeros((288, 256), dtype=np.float32))
