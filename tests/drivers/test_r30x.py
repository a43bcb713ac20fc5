"""R30x driver: packet codec, and behaviour against the wire-level simulator under faults.

Full image uploads cost ~3.5 s of wire time each at 115200 baud, so only a few tests do one.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import tty
from collections.abc import Callable, Iterator
from datetime import UTC

import numpy as np
import pytest

from drivers.device import DeviceKind
from drivers.errors import (
    Cancelled,
    DeviceAccessDenied,
    DeviceDisconnected,
    DeviceError,
    DeviceNotFound,
    DeviceTimeout,
    ProtocolError,
)
from drivers.fingerprint.r30x import (
    PID_ACK,
    PID_COMMAND,
    PID_DATA,
    CaptureState,
    OpenState,
    Packet,
    PacketParser,
    R30xScanner,
    SystemParameters,
    encode_packet,
    probe,
)
from hardware_sim.r30x import R30xSimulator

SimFactory = Callable[..., R30xSimulator]

GEN_IMG = 0x01
UP_IMAGE = 0x0A
SET_SYS_PARA = 0x0E


@pytest.fixture
def scanners() -> Iterator[Callable[..., R30xScanner]]:
    """Factory of opened scanners (short timeout), all closed after the test."""
    made: list[R30xScanner] = []

    def make(port: str, **options: object) -> R30xScanner:
        options.setdefault("timeout", 0.5)
        scanner = R30xScanner(port, **options)  # type: ignore[arg-type]
        made.append(scanner)
        scanner.open()
        return scanner

    yield make
    for scanner in made:
        scanner.close()


def quantised(image: np.ndarray) -> np.ndarray:
    """What a 4-bit-per-pixel upload can deliver of ``image``."""
    return (image >> 4) * 17


@pytest.fixture
def states(caplog: pytest.LogCaptureFixture) -> Callable[[str], list[str]]:
    """The states the driver's state machines entered, by machine name ("open", "capture"), in order."""
    caplog.set_level(logging.DEBUG, logger="drivers.fingerprint.base")

    def entered(machine: str) -> list[str]:
        pattern = re.compile(rf"\] {machine} entering state (\w+)$")
        found = (pattern.search(record.getMessage()) for record in caplog.records)
        return [match.group(1) for match in found if match]

    return entered


def names(*states: OpenState | CaptureState) -> list[str]:
    return [state.name for state in states]


def set_when(condition: Callable[[], bool], event: threading.Event, delay: float = 0.0) -> dict[str, float]:
    """Set ``event`` ``delay`` s after ``condition`` first holds (polled from a daemon thread).

    Returns a dict that gets the monotonic time of setting under "at": to measure promptness from.
    """
    when: dict[str, float] = {}

    def watch() -> None:
        deadline = time.monotonic() + 30
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(delay)
        when["at"] = time.monotonic()
        event.set()

    threading.Thread(target=watch, daemon=True).start()
    return when


# --------------------------------------------------------------------------- codec


def test_encode_matches_datasheet_genimg_packet() -> None:
    # GenImg as printed in the ZFM-20 datasheet: EF01 FFFFFFFF 01 0003 01 0005.
    assert encode_packet(0xFFFFFFFF, PID_COMMAND, b"\x01") == bytes.fromhex("EF01FFFFFFFF010003010005")
    # VfyPwd(0): sum = 01 + 00 + 07 + 13 = 0x1B.
    assert encode_packet(0xFFFFFFFF, PID_COMMAND, bytes.fromhex("1300000000")) == bytes.fromhex(
        "EF01FFFFFFFF0100071300000000001B"
    )


def test_parser_round_trips_packets_fed_in_pieces() -> None:
    payload = bytes(range(256))
    wire = encode_packet(0x12345678, PID_DATA, payload) + encode_packet(0x12345678, PID_ACK, b"\x00")
    parser = PacketParser(0x12345678)
    packets = []
    for start in range(0, len(wire), 7):
        parser.feed(wire[start : start + 7])
        while (packet := parser.next_packet()) is not None:
            packets.append(packet)
    assert packets == [Packet(0x12345678, PID_DATA, payload), Packet(0x12345678, PID_ACK, b"\x00")]
    assert parser.junk_bytes == 0


def test_parser_rejects_bad_checksum_and_carries_on() -> None:
    bad = bytearray(encode_packet(0xFFFFFFFF, PID_ACK, b"\x00\x01\x02"))
    bad[-1] ^= 0x01
    parser = PacketParser(0xFFFFFFFF)
    parser.feed(bytes(bad) + encode_packet(0xFFFFFFFF, PID_ACK, b"\x02"))
    with pytest.raises(ProtocolError) as caught:
        parser.next_packet()
    message = str(caught.value)
    assert "bad checksum in acknowledge packet" in message
    assert "got 0x000E" in message and "computed 0x000F" in message
    assert parser.next_packet() == Packet(0xFFFFFFFF, PID_ACK, b"\x02")


def test_parser_resynchronises_after_junk_and_foreign_headers() -> None:
    junk = b"\x00\xff\xef\x13" + b"\xef\x01\x00\x00\x00\x01\x07\x00\x03"  # a header for another address
    parser = PacketParser(0xFFFFFFFF)
    parser.feed(junk + encode_packet(0xFFFFFFFF, PID_ACK, b"\x00"))
    assert parser.next_packet() == Packet(0xFFFFFFFF, PID_ACK, b"\x00")
    assert parser.junk_bytes == len(junk)
    assert any("address 0x00000001" in reason for reason in parser.junk_reasons)


def test_system_parameters_from_readsyspara_payload() -> None:
    data = bytes.fromhex("0004" "0009" "012C" "0003" "FFFFFFFF" "0002" "0006")
    params = SystemParameters.from_payload(data)
    assert params == SystemParameters(4, 9, 300, 3, 0xFFFFFFFF, 2, 6)
    assert params.packet_size == 128
    with pytest.raises(ProtocolError, match="expected 16"):
        SystemParameters.from_payload(data[:-1])


# --------------------------------------------------------------------------- handshake and imaging


def test_handshake_learns_system_parameters(r30x_sim: SimFactory, scanners: Callable[..., R30xScanner]) -> None:
    sim = r30x_sim(system_id=0x0009, library_size=300, security_level=4, packet_size=64)
    scanner = scanners(sim.port, max_baudrate=57600)
    params = scanner.system_parameters
    assert params is not None
    assert (params.system_id, params.library_size, params.security_level, params.packet_size) == (9, 300, 4, 64)
    assert sim.commands_seen[:2] == [0x13, 0x0F]  # VfyPwd, then ReadSysPara
    info = scanner.info()
    assert info.kind is DeviceKind.FINGERPRINT
    assert info.model == "R30x-compatible (sys id 0x0009)"
    assert info.address == sim.port


def test_capture_returns_the_placed_image(
    r30x_sim: SimFactory, scanners: Callable[..., R30xScanner], ridge_image: np.ndarray
) -> None:
    sim = r30x_sim()
    scanner = scanners(sim.port, ppi=500)
    sim.place_finger(ridge_image)
    image = scanner.capture()  # no image latched yet: GenImg first, then UpImage
    assert sim.commands_seen[-2:] == [0x01, UP_IMAGE]
    assert image.pixels.shape == (288, 256) and image.pixels.dtype == np.uint8
    np.testing.assert_array_equal(image.pixels, quantised(ridge_image))
    assert image.ppi == 500
    assert image.captured_at.tzinfo is UTC
    assert image.device.model.startswith("R30x-compatible")


def test_wait_for_finger_returns_when_a_finger_is_placed(
    r30x_sim: SimFactory, scanners: Callable[..., R30xScanner], ridge_image: np.ndarray
) -> None:
    sim = r30x_sim()
    scanner = scanners(sim.port)
    timer = threading.Timer(0.3, sim.place_finger, args=(ridge_image,))
    timer.start()
    try:
        scanner.wait_for_finger(timeout=10)
    finally:
        timer.cancel()
    assert sim.image_buffer is not None  # GenImg latched the finger
    assert sim.commands_seen.count(0x01) >= 2  # it polled before the finger came


def test_wait_for_finger_is_cancelled_promptly(r30x_sim: SimFactory, scanners: Callable[..., R30xScanner]) -> None:
    scanner = scanners(r30x_sim().port)
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        scanner.wait_for_finger(timeout=30, cancel=cancel)
    assert time.monotonic() - started < 2.0


def test_wait_for_finger_times_out_without_a_finger(
    r30x_sim: SimFactory, scanners: Callable[..., R30xScanner]
) -> None:
    scanner = scanners(r30x_sim().port)
    with pytest.raises(DeviceTimeout, match="no finger"):
        scanner.wait_for_finger(timeout=0.4)


def test_capture_without_a_finger_says_so(r30x_sim: SimFactory, scanners: Callable[..., R30xScanner]) -> None:
    scanner = scanners(r30x_sim().port)
    with pytest.raises(DeviceError, match="no finger"):
        scanner.capture()


# --------------------------------------------------------------------------- line faults


def test_garbage_bytes_are_skipped(
    r30x_sim: SimFactory, scanners: Callable[..., R30xScanner], ridge_image: np.ndarray
) -> None:
    sim = r30x_sim()
    scanner = scanners(sim.port)
    sim.inject_noise(300)
    assert scanner.finger_present() is False
    sim.place_finger(ridge_image)
    sim.inject_noise(50)
    assert scanner.finger_present() is True
    sim.inject_noise(1000)
    result = scanner.self_test()
    assert result.passed, result.problem


def test_corrupted_data_packet_is_uploaded_again(
    r30x_sim: SimFactory, scanners: Callable[..., R30xScanner], ridge_image: np.ndarray
) -> None:
    sim = r30x_sim()
    scanner = scanners(sim.port)
    sim.place_finger(ridge_image)
    assert scanner.finger_present()
    sim.inject_noise(64)  # noise before the acknowledgement as well
    sim.corrupt_data_packet(17)
    image = scanner.capture()
    np.testing.assert_array_equal(image.pixels, quantised(ridge_image))
    assert sim.commands_seen.count(UP_IMAGE) == 2


def test_image_corrupted_every_time_raises_protocol_error(
    r30x_sim: SimFactory, scanners: Callable[..., R30xScanner], ridge_image: np.ndarray
) -> None:
    sim = r30x_sim()
    scanner = scanners(sim.port)
    sim.place_finger(ridge_image)
    sim.corrupt_data_packet(0, uploads=None)
    with pytest.raises(ProtocolError) as caught:
        scanner.capture()
    message = str(caught.value)
    assert "image upload failed 3 times" in message
    assert "data packet 1 of 288" in message and "bad checksum" in message
    assert sim.commands_seen.count(UP_IMAGE) == 3


def test_wrong_password_is_access_denied(r30x_sim: SimFactory) -> None:
    sim = r30x_sim(password=0x0BADC0DE)
    scanner = R30xScanner(sim.port, password=0x12345678, timeout=0.5)
    with pytest.raises(DeviceAccessDenied) as caught:
        scanner.open()
    assert "password in the configuration does not match" in str(caught.value)
    assert sim.commands_seen == [0x13]


def test_non_default_address_and_password(r30x_sim: SimFactory, scanners: Callable[..., R30xScanner]) -> None:
    sim = r30x_sim(address=0xC0FFEE01, password=0x5EC2E700)
    scanner = scanners(sim.port, address=0xC0FFEE01, password=0x5EC2E700)
    assert scanner.finger_present() is False
    assert scanner.system_parameters is not None and scanner.system_parameters.address == 0xC0FFEE01
    scanner.close()

    seen = len(sim.commands_seen)
    stranger = R30xScanner(sim.port, password=0x5EC2E700, timeout=0.2)  # default address FFFFFFFF
    stranger.answer_timeout_s = 0.1
    with pytest.raises(DeviceTimeout, match="0xFFFFFFFF"):
        stranger.open()
    assert len(sim.commands_seen) == seen  # the module ignored every packet for another address


def test_stalled_module_times_out(r30x_sim: SimFactory, scanners: Callable[..., R30xScanner]) -> None:
    sim = r30x_sim()
    scanner = scanners(sim.port)
    sim.stall_forever()
    with pytest.raises(DeviceTimeout, match="acknowledgement to GenImg"):
        scanner.finger_present()
    sim.resume()
    assert scanner.finger_present() is False


# --------------------------------------------------------------------------- baud negotiation


def test_baud_negotiation_reaches_115200(r30x_sim: SimFactory, scanners: Callable[..., R30xScanner]) -> None:
    sim = r30x_sim()
    scanner = scanners(sim.port, max_baudrate=115200)
    assert scanner.baudrate == 115200
    assert (sim.baud, sim.stored_baud) == (115200, 115200)
    assert scanner.finger_present() is False
    scanner.close()
    # The rate lives in the module's flash: the next session finds it although 57600 is configured.
    again = scanners(sim.port, baudrate=57600)
    assert again.baudrate == 115200
    assert again.finger_present() is False


def test_clone_that_switches_after_power_cycle_stays_reachable(
    r30x_sim: SimFactory, scanners: Callable[..., R30xScanner]
) -> None:
    sim = r30x_sim(baud_applies="after_power_cycle")
    scanner = scanners(sim.port, max_baudrate=115200)
    assert scanner.baudrate == 57600
    assert sim.baud == 57600
    assert sim.stored_baud == 57600  # the rate it acknowledged was taken back out of flash
    set_sys_para = [c for c in sim.commands_seen if c == SET_SYS_PARA]
    assert len(set_sys_para) == 2  # one to 115200, one back to 57600; no pointless lower tries
    assert scanner.finger_present() is False
    scanner.close()
    sim.power_cycle()
    assert sim.baud == 57600
    assert scanners(sim.port, max_baudrate=57600).finger_present() is False


def test_unreliable_high_rates_fall_back_to_a_working_rate(
    r30x_sim: SimFactory, scanners: Callable[..., R30xScanner]
) -> None:
    sim = r30x_sim(max_working_baud=96000)
    scanner = scanners(sim.port, max_baudrate=115200)
    assert scanner.baudrate == 96000  # 115200 and 105600 garble; 9600 x 10 is the fastest that works
    assert (sim.baud, sim.stored_baud) == (96000, 96000)
    assert scanner.finger_present() is False


# --------------------------------------------------------------------------- unplugging


def test_unplug_mid_transfer_then_replug(
    r30x_sim: SimFactory, scanners: Callable[..., R30xScanner], ridge_image: np.ndarray
) -> None:
    sim = r30x_sim()
    scanner = scanners(sim.port, timeout=1.0)
    sim.place_finger(ridge_image)
    assert scanner.finger_present()
    sim.unplug_during_upload(after_packets=40)
    started = time.monotonic()
    with pytest.raises(DeviceDisconnected):
        scanner.capture()
    assert time.monotonic() - started < 1.0 + 40 * 139 * 10 / 115200 + 2.0
    with pytest.raises(DeviceDisconnected):
        scanner.finger_present()  # still gone, and says so

    with pytest.raises(DeviceNotFound):
        R30xScanner(sim.port, timeout=0.3).open()
    sim.replug()
    scanner.open()  # the same scanner reconnects on the same path
    assert scanner.finger_present() is True  # the finger is still on the glass
    scanner.close()
    assert scanners(sim.port).finger_present() is True  # and so does a new one


# --------------------------------------------------------------------------- self-test and probe


def test_self_test_blinks_the_led_where_there_is_one(
    r30x_sim: SimFactory, scanners: Callable[..., R30xScanner]
) -> None:
    with_led = r30x_sim(has_led=True)
    result = scanners(with_led.port).self_test()
    assert result.passed, result.problem
    assert result.checks["sensor"].startswith("no finger")
    assert result.checks["led"] == "flashed blue"
    assert with_led.led == (2, 0x40, 2, 2)

    without = r30x_sim(has_led=False)
    result = R30xScanner(without.port, timeout=0.5).self_test()  # opens and closes by itself
    assert result.passed, result.problem
    assert result.checks["led"].startswith("none")


def test_probe_recognises_the_module(r30x_sim: SimFactory) -> None:
    sim = r30x_sim(system_id=0x0042)
    info = probe(sim.port)
    assert info is not None
    assert info.model == "R30x-compatible (sys id 0x0042)"
    assert sim.commands_seen == [0x13, 0x0F]


def test_probe_returns_none_on_a_silent_port() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        assert probe(os.ttyname(slave), timeout=0.2) is None
    finally:
        os.close(master)
        os.close(slave)


def test_probe_returns_none_on_a_chattering_port() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    stop = threading.Event()

    def chatter() -> None:
        rng = np.random.default_rng(7)
        while not stop.is_set():
            try:
                os.write(master, rng.integers(0, 256, 64, dtype=np.uint8).tobytes() + b"\xef\x01")
            except BlockingIOError:
                pass  # nobody is reading
            time.sleep(0.005)

    thread = threading.Thread(target=chatter, daemon=True)
    thread.start()
    try:
        assert probe(os.ttyname(slave), timeout=0.2) is None
    finally:
        stop.set()
        thread.join()
        os.close(master)
        os.close(slave)


def test_probe_returns_none_for_a_missing_port(tmp_path: os.PathLike[str]) -> None:
    assert probe(os.path.join(tmp_path, "ttyUSB9")) is None


# --------------------------------------------------------------------------- state machines and cancelling


def test_open_states_for_a_switch_to_115200(
    r30x_sim: SimFactory, scanners: Callable[..., R30xScanner], states: Callable[[str], list[str]]
) -> None:
    sim = r30x_sim()
    assert scanners(sim.port, max_baudrate=115200).baudrate == 115200
    assert states("open") == names(
        OpenState.DRAIN, OpenState.HANDSHAKE, OpenState.READ_PARAMETERS, OpenState.TRY_RATE,
        OpenState.VERIFY_NEW_RATE, OpenState.READY,
    )


def test_open_states_for_a_clone_that_keeps_the_old_rate(
    r30x_sim: SimFactory, scanners: Callable[..., R30xScanner], states: Callable[[str], list[str]]
) -> None:
    sim = r30x_sim(baud_applies="after_power_cycle")
    assert scanners(sim.port, max_baudrate=115200).baudrate == 57600
    assert states("open") == names(
        OpenState.DRAIN, OpenState.HANDSHAKE, OpenState.READ_PARAMETERS, OpenState.TRY_RATE,
        OpenState.VERIFY_NEW_RATE, OpenState.VERIFY_OLD_RATE, OpenState.RESTORE_STORED_RATE, OpenState.READY,
    )


def test_open_states_for_a_rate_whose_answers_are_garbled(
    r30x_sim: SimFactory, scanners: Callable[..., R30xScanner], states: Callable[[str], list[str]]
) -> None:
    sim = r30x_sim(max_working_baud=105600)
    assert scanners(sim.port, max_baudrate=115200).baudrate == 105600
    assert states("open") == names(
        OpenState.DRAIN, OpenState.HANDSHAKE, OpenState.READ_PARAMETERS,
        OpenState.TRY_RATE, OpenState.VERIFY_NEW_RATE, OpenState.VERIFY_OLD_RATE,  # 115200
        OpenState.COMMAND_BACK_BLIND, OpenState.VERIFY_BACK_AT_OLD_RATE,
        OpenState.TRY_RATE, OpenState.VERIFY_NEW_RATE, OpenState.READY,  # 105600
    )


def test_open_cancelled_while_searching_for_the_rate_is_prompt_and_closes_the_port(r30x_sim: SimFactory) -> None:
    sim = r30x_sim(baud=9600)  # the configured 57600 gets no answer: the handshake searches (~3 s)
    scanner = R30xScanner(sim.port, timeout=0.5)
    cancel = threading.Event()
    when = set_when(lambda: len(sim.commands_seen) == 0 and sim.bytes_received > 0, cancel, delay=0.6)
    with pytest.raises(Cancelled):
        scanner.open(cancel=cancel)
    assert time.monotonic() - when["at"] < 1.5
    assert sim.commands_seen == []  # it was cancelled before it reached 9600
    with pytest.raises(DeviceError, match="not open"):
        _ = scanner.baudrate
    with R30xScanner(sim.port, timeout=0.5) as again:  # the port was closed: it opens exclusively again
        assert again.baudrate == 115200


def test_open_cancelled_during_a_rate_switch_takes_effect_once_the_module_answers(
    r30x_sim: SimFactory, states: Callable[[str], list[str]]
) -> None:
    sim = r30x_sim()
    scanner = R30xScanner(sim.port, timeout=0.5)
    cancel = threading.Event()
    when = set_when(lambda: SET_SYS_PARA in sim.commands_seen, cancel)
    with pytest.raises(Cancelled):
        scanner.open(cancel=cancel)
    assert time.monotonic() - when["at"] < 1.5
    # The module was followed to 115200 and heard from there before the cancel took effect.
    assert states("open")[-2:] == names(OpenState.TRY_RATE, OpenState.VERIFY_NEW_RATE)
    with pytest.raises(DeviceError, match="not open"):
        _ = scanner.baudrate
    with R30xScanner(sim.port, timeout=0.5) as again:
        assert again.baudrate == 115200 and again.finger_present() is False


def test_open_cancelled_during_a_failed_rate_switch_leaves_the_module_reachable(
    r30x_sim: SimFactory, states: Callable[[str], list[str]]
) -> None:
    # At 115200 the module's answers are garbled: abandoning it there would strand it (a later
    # open only listens).  The cancel waits until it has been commanded back to 57600.
    sim = r30x_sim(max_working_baud=57600)
    scanner = R30xScanner(sim.port, timeout=0.5)
    cancel = threading.Event()
    set_when(lambda: SET_SYS_PARA in sim.commands_seen, cancel)
    with pytest.raises(Cancelled):
        scanner.open(cancel=cancel)
    assert states("open")[-2:] == names(OpenState.VERIFY_OLD_RATE, OpenState.COMMAND_BACK_BLIND)
    assert sim.commands_seen.count(SET_SYS_PARA) == 2  # the try and the command back; no lower rates
    assert (sim.baud, sim.stored_baud) == (57600, 57600)
    with R30xScanner(sim.port, timeout=0.5, max_baudrate=57600) as again:
        assert again.baudrate == 57600 and again.finger_present() is False


def test_capture_with_cancel_already_set_sends_nothing(
    r30x_sim: SimFactory, scanners: Callable[..., R30xScanner], ridge_image: np.ndarray
) -> None:
    sim = r30x_sim()
    scanner = scanners(sim.port)
    sim.place_finger(ridge_image)
    seen = len(sim.commands_seen)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        scanner.capture(cancel=cancel)
    assert len(sim.commands_seen) == seen
    assert scanner.finger_present() is True


def test_capture_cancelled_mid_upload_is_prompt_and_the_next_capture_works(
    r30x_sim: SimFactory,
    scanners: Callable[..., R30xScanner],
    ridge_image: np.ndarray,
    states: Callable[[str], list[str]],
) -> None:
    sim = r30x_sim()
    scanner = scanners(sim.port)
    assert scanner.baudrate == 115200  # an upload is ~3.5 s of wire time
    sim.place_finger(ridge_image)
    cancel = threading.Event()
    when = set_when(lambda: UP_IMAGE in sim.commands_seen, cancel, delay=0.3)
    with pytest.raises(Cancelled):
        scanner.capture(cancel=cancel)
    assert time.monotonic() - when["at"] < 1.5
    assert states("capture") == names(CaptureState.TAKE_IMAGE, CaptureState.UPLOAD, CaptureState.RECEIVE)

    # The module is still streaming the abandoned image: the next capture drains it first.
    image = scanner.capture()
    np.testing.assert_array_equal(image.pixels, quantised(ridge_image))
    assert sim.commands_seen[-2:] == [GEN_IMG, UP_IMAGE]
    assert sim.commands_seen.count(UP_IMAGE) == 2
    assert states("capture")[3:] == names(
        CaptureState.TAKE_IMAGE, CaptureState.UPLOAD, CaptureState.RECEIVE, CaptureState.DONE
    )
