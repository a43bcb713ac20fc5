"""The CCID driver against the simulated reader on the virtual USB bus, and the APDU/ATR types."""

import threading
import time

import pytest

from drivers.device import DeviceKind
from drivers.errors import Cancelled, DeviceDisconnected, DeviceError, DeviceNotFound, DeviceTimeout, ProtocolError
from drivers.settings import SettingsError
from drivers.smartcard import ccid
from drivers.smartcard.base import ATR, CardRemoved, CommandAPDU, NoCard, ResponseAPDU
from drivers.smartcard.models import create_reader
from hardware_sim.ccid import LEVEL_SHORT_APDU, LEVEL_TPDU, CcidReaderSimulator
from hardware_sim.citizens import make_citizen
from hardware_sim.emrtd import EmrtdChip

SELECT_AID = CommandAPDU(0x00, 0xA4, 0x04, 0x0C, bytes.fromhex("A0000002471001"))


class EchoCard:
    """A card for transport tests: answers ``data || 9000``; asks for Le with 6Cxx when Le is wrong."""

    atr = bytes.fromhex("3B8880014343434443484950") + b"\x1c"
    busy_s = 0.0

    def __init__(self, payload: bytes = b"", exact_le: int | None = None) -> None:
        self.payload = payload
        self.exact_le = exact_le
        self.commands: list[bytes] = []

    def reset(self) -> None:
        pass

    def process(self, command: bytes) -> bytes:
        self.commands.append(command)
        if self.exact_le is not None and command[-1] != self.exact_le:
            return bytes([0x6C, self.exact_le])
        return self.payload + b"\x90\x00"


@pytest.fixture
def sim():
    simulator = CcidReaderSimulator()
    yield simulator
    simulator.backend.detach(simulator)


def reader_for(sim, **options):
    return ccid.CcidReader(ccid.find(sim.backend), **options)


# ---- APDU and ATR encodings (ISO/IEC 7816-4 5.1, 7816-3 8.2)


@pytest.mark.parametrize("command, encoded", [
    (CommandAPDU(0, 0x84, 0, 0), "00840000"),                                     # case 1
    (CommandAPDU(0, 0x84, 0, 0, le=8), "0084000008"),                             # case 2S
    (CommandAPDU(0, 0xB0, 0, 0, le=256), "00B0000000"),                           # Le 256 = 00
    (CommandAPDU(0, 0xA4, 2, 0x0C, b"\x01\x1e"), "00A4020C02011E"),               # case 3S
    (CommandAPDU(0, 0x82, 0, 0, b"\xaa" * 2, le=40), "0082000002AAAA28"),         # case 4S
    (CommandAPDU(0, 0xB0, 0, 0, le=65536), "00B00000000000"),                     # case 2E, Le 0000
    (CommandAPDU(0, 0xB0, 0, 0, le=1000), "00B000000003E8"),                      # case 2E
    (CommandAPDU(0, 0xD6, 0, 0, b"\x01" * 300), "00D60000" + "00012C" + "01" * 300),  # case 3E
])
def test_command_apdu_encodings(command, encoded):
    assert command.to_bytes().hex().upper() == encoded.upper()


def test_extended_case_4_and_validation():
    assert CommandAPDU(0, 1, 2, 3, b"\x05", le=65536).to_bytes(extended=True).hex() == "00010203000001050000"
    with pytest.raises(ValueError, match="extended"):
        CommandAPDU(0, 0xB0, 0, 0, le=300).to_bytes(extended=False)
    with pytest.raises(ValueError, match="Le"):
        CommandAPDU(0, 0xB0, 0, 0, le=0)


def test_response_apdu_without_status_word_is_a_protocol_error():
    assert ResponseAPDU.from_bytes(b"\x01\x02\x90\x00") == ResponseAPDU(b"\x01\x02", 0x90, 0x00)
    with pytest.raises(ProtocolError, match="no status word"):
        ResponseAPDU.from_bytes(b"\x90")


def test_atr_parsing():
    atr = ATR.parse(bytes.fromhex("3B888001434343444348495" "01C"))
    assert atr.protocols == (0, 1) and atr.historical_bytes == b"CCCDCHIP"  # TD1 80: T=0, TD2 01: T=1
    with pytest.raises(ProtocolError, match="TCK"):
        ATR.parse(bytes.fromhex("3B888001434343444348495" "01D"))
    with pytest.raises(ProtocolError, match="TS"):
        ATR.parse(bytes.fromhex("12345678"))
    assert ATR.parse(bytes.fromhex("3B02AABB")).protocols == (0,)  # T=0 only: no TCK


# ---- the driver over the simulated reader


def test_identity_and_self_test(sim):
    with reader_for(sim) as reader:
        info = reader.info()
        assert info.kind is DeviceKind.CARD_READER and info.vendor_id == 0x1209
        assert reader.level == "extended APDU" and reader.supports_extended
        result = reader.self_test()
        assert result.passed and result.checks["slot"] == "no card"


def test_power_on_gives_the_atr_and_apdus_round_trip(sim):
    sim.insert_card(EmrtdChip(make_citizen(1)))
    with reader_for(sim) as reader:
        reader.wait_for_card(1.0)
        atr = reader.power_on()
        assert atr.raw[:4] == bytes.fromhex("3B888001")
        assert reader.transmit(SELECT_AID).ok
        assert len(reader.transmit(CommandAPDU(0, 0x84, 0, 0, le=8)).data) == 8


def test_power_on_without_a_card_is_no_card(sim):
    with reader_for(sim) as reader, pytest.raises(NoCard):
        reader.power_on()


def test_6cxx_resends_with_the_le_the_card_asks_for(sim):
    card = EchoCard(b"\x11" * 5, exact_le=5)
    sim.insert_card(card)
    with reader_for(sim) as reader:
        reader.power_on()
        answer = reader.transmit(CommandAPDU(0, 0xCA, 0, 0, le=256))
    assert answer.data == b"\x11" * 5 and [c[-1] for c in card.commands] == [0x00, 0x05]


def test_wait_for_card_times_out_and_can_be_cancelled(sim):
    with reader_for(sim) as reader:
        with pytest.raises(DeviceTimeout):
            reader.wait_for_card(0.1)
        cancel = threading.Event()
        threading.Timer(0.1, cancel.set).start()
        started = time.monotonic()
        with pytest.raises(Cancelled):
            reader.wait_for_card(10, cancel)
        assert time.monotonic() - started < 2


def test_card_removed_is_seen_from_the_interrupt_endpoint(sim):
    sim.insert_card(EmrtdChip(make_citizen(1)))
    with reader_for(sim) as reader:
        reader.power_on()
        sim.remove_card()
        with pytest.raises(CardRemoved):
            reader.transmit(SELECT_AID)
        assert not reader.card_present()


def test_card_removed_during_an_exchange(sim):
    sim.insert_card(EmrtdChip(make_citizen(1)))
    with reader_for(sim) as reader:
        reader.power_on()
        sim.remove_card(after_apdus=1)
        assert reader.transmit(SELECT_AID).ok
        with pytest.raises(CardRemoved, match="left the field"):
            reader.transmit(SELECT_AID)


def test_slow_card_time_extensions_are_waited_out(sim):
    chip = EmrtdChip(make_citizen(1), busy_s=0.25)
    sim.insert_card(chip)
    with reader_for(sim, timeout_ms=100) as reader:  # each wait is shorter than the card's work
        reader.power_on()
        assert reader.transmit(SELECT_AID).ok
        assert reader.time_extensions >= 3 and sim.time_extensions == reader.time_extensions


def test_a_card_that_never_finishes_times_out(sim):
    sim.insert_card(EmrtdChip(make_citizen(1), busy_s=1.0))
    with reader_for(sim, card_timeout_s=0.2) as reader:
        reader.power_on()
        with pytest.raises(DeviceTimeout, match="more time"):
            reader.transmit(SELECT_AID)


def test_stale_reply_with_the_wrong_sequence_number_is_discarded(sim):
    sim.insert_card(EmrtdChip(make_citizen(1)))
    with reader_for(sim) as reader:
        reader.power_on()
        sim.corrupt_next("sequence")
        assert reader.transmit(SELECT_AID).ok


@pytest.mark.parametrize("kind, message", [("truncated", "shorter than the 10-byte header"),
                                           ("length", "dwLength")])
def test_garbled_replies_are_protocol_errors(sim, kind, message):
    sim.insert_card(EmrtdChip(make_citizen(1)))
    with reader_for(sim) as reader:
        reader.power_on()
        sim.corrupt_next(kind)
        with pytest.raises(ProtocolError, match=message):
            reader.transmit(SELECT_AID)


def test_tpdu_level_reader_is_refused_with_a_hint():
    sim = CcidReaderSimulator(exchange_level=LEVEL_TPDU)
    with pytest.raises(DeviceError, match="TPDU") as raised:
        reader_for(sim).open()
    assert "pcsc" in raised.value.technician_hint


def test_short_apdu_reader_refuses_extended_commands():
    sim = CcidReaderSimulator(exchange_level=LEVEL_SHORT_APDU)
    sim.insert_card(EchoCard())
    with reader_for(sim) as reader:
        reader.power_on()
        assert not reader.supports_extended
        with pytest.raises(ProtocolError, match="extended"):
            reader.transmit(CommandAPDU(0, 0xB0, 0, 0, le=65536))


def test_unplugged_reader_is_disconnected(sim):
    sim.insert_card(EmrtdChip(make_citizen(1)))
    with reader_for(sim) as reader:
        reader.power_on()
        sim.backend.detach(sim)
        with pytest.raises(DeviceDisconnected):
            reader.transmit(SELECT_AID)


def test_models_registry():
    sim = CcidReaderSimulator()
    reader = create_reader("ccid", {"timeout_ms": 500}, usb_backend=sim.backend)
    with reader:
        assert reader.info().serial == "SIM-CCID-0001"
    with pytest.raises(SettingsError, match="speed: unknown key"):
        create_reader("ccid", {"speed": 1}, usb_backend=sim.backend)
    with pytest.raises(SettingsError, match="known: ccid, pcsc"):
        create_reader("omnikey", {})
    sim.backend.detach(sim)
    with pytest.raises(DeviceNotFound):
        create_reader("ccid", {}, usb_backend=sim.backend)
