"""The station's chip reader against vsmartcard's vicc ePass behind the real pcscd + vpcd
(conftest.py says how vicc is run and what is corrected in it).

vicc answers the way real chips may and our simulator by default does not: its files have no
short EF identifiers (READ BINARY by SFI: 6A82), READ BINARY for more than remains is answered
6282 with the rest and no MAC, successful protected responses carry no DO'99', errors come as bare
status words.  The reader must read and verify the card all the same.
"""

from __future__ import annotations

import time

import pytest
from cryptography import x509

from capture.document.bac import BacError
from capture.document.mrz import MrzInformation
from capture.document.reader import ReadOptions, read_identity_document
from crypto.csca import CscaStore
from drivers.smartcard.models import create_reader
from hardware_sim.pcscd import READERS

VICC_READER = READERS[1]
#: ICAO 9303-11 Appendix D's specimen: document number, birth date, expiry date.
SPECIMEN = MrzInformation("L898902C", "690806", "940623")
TD3_SPECIMEN = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C<3UTO6908061F9406236ZE184226B<<<<<14")


def trust(card) -> CscaStore:
    return CscaStore([x509.load_pem_x509_certificate(card.csca_pem)])


class Counted:
    """Counts the APDUs a reader exchanges and the time spent waiting for their answers."""

    def __init__(self, reader) -> None:
        self.apdus, self.seconds = 0, 0.0
        exchange = reader.exchange

        def counted(command: bytes) -> bytes:
            started = time.perf_counter()
            try:
                return exchange(command)
            finally:
                self.apdus += 1
                self.seconds += time.perf_counter() - started

        reader.exchange = counted


def read(card, access=SPECIMEN, **options):
    with create_reader("pcsc", {"reader": VICC_READER}) as reader:
        reader.wait_for_card(5)
        counter = Counted(reader)
        document = read_identity_document(reader, access, trust(card), options=ReadOptions(**options))
    return document, counter


@pytest.mark.parametrize("options", [{}, {"use_short_ef_id": False}, {"chunk_size": 0x80}])
def test_reads_and_verifies_vicc(vicc, vicc_card, options):
    document, counter = read(vicc_card, data_groups=("DG1", "DG2"), **options)
    assert document.verified, [step for step in document.verification if not step.passed]
    assert [step.name for step in document.verification][:2] == ["BAC", "SOD structure"]
    assert document.mrz.split() == list(TD3_SPECIMEN)
    assert document.portrait_jpeg == vicc_card.files["DG2"][-len(document.portrait_jpeg):]
    assert document.data_groups == vicc_card.files
    # EF.CardAccess asked for (vicc has none), SELECT, BAC (2), one READ BINARY by SFI refused; per
    # file a SELECT, its chunks, and at most one read asked again after a 6282 without MAC
    chunk = options.get("chunk_size", 0xDF)
    assert counter.apdus <= 5 + sum(2 + -(-len(f) // chunk) for f in vicc_card.files.values()), counter.apdus


def test_wrong_mrz_information_is_refused_by_vicc(vicc, vicc_card):
    with pytest.raises(BacError, match="BAC refused"):
        read(vicc_card, MrzInformation("L898902C", "690807", "940623"))


def test_one_session_after_another(vicc, vicc_card):
    """Each read is a fresh BAC session (new SSC); vicc's SSC encoding error hit ~1 in 256."""
    for _ in range(3):
        document, _ = read(vicc_card, data_groups=("DG1",))
        assert document.verified
