"""Fuzzing what reads a chip: mutated EF.COM, DG1, DG2, DG13, DG14, DG15, EF.SOD and EF.CardAccess
through their parsers and passive authentication, and whole-card reads of chips holding a mutated
file, counting every exception that is not one of the documented typed errors (the goal is 0).

Documented outcomes: the LDS parsers raise only :class:`LdsError`, DG14's only ``Dg14Error``,
DG15's only ``Dg15Error``, EF.CardAccess's only ValueError; passive authentication never raises
(every problem is a failed step); a whole-card read returns a document or raises an
``ExplainedError`` (BacError, ChipError, LdsError, SecureMessagingError, a DeviceError).
Whole-card reads include Active and Chip Authentication (the chip has an RSA AA key and an ECDH
CA key, DG15 and DG14 their public halves) and PACE (the chip's EF.CardAccess offers it; a
mutated one falls back to BAC or fails typed).
Mutations: hardware_sim.mutations; EF.SOD also with each of its bytes set in turn to its
complement, 00, 11 and 88 (the "one-byte" rows), for an ECDSA and an RSA Document Signer; seeds
are fixed.

    .venv/bin/python bench/emrtd_fuzz.py [--smoke] [--scale 1.0] [--seed 1]

Default: about 1.0 million inputs (several minutes); ``--smoke``: 1/1000 of the random mutants and
only the complement for the one-byte rows.
"""

from __future__ import annotations

import argparse
import collections
import random
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from capture.document.active_auth import Dg15Error, parse_dg15
from capture.document.chip_auth import Dg14Error, parse_dg14
from capture.document.lds import LdsError, parse_dg1, parse_dg2, parse_dg13, parse_ef_com
from capture.document.pace import parse_card_access
from capture.document.passive_auth import passive_authentication
from capture.document.reader import ReadOptions, cccd_access, read_identity_document
from crypto.csca import CscaStore
from drivers.device import DeviceInfo, DeviceKind, SelfTestResult
from drivers.errors import ExplainedError
from drivers.smartcard.base import ATR, CardReader
from hardware_sim.citizens import make_citizen
from hardware_sim.emrtd import EmrtdChip, aa_key, build_files, ca_key, card_access, make_pki
from hardware_sim.mutations import mutate, one_byte_changes

#: Inputs per target at --scale 1 (about 10^6 in all).
COUNTS = {"COM": 250_000, "DG1": 250_000, "DG13": 150_000, "DG14": 75_000, "DG15": 75_000, "DG2": 150_000,
          "CardAccess": 50_000, "SOD": 95_000, "card": 5_000}


class MemoryReader(CardReader):
    """A card reader whose card is an EmrtdChip in this process (no transport: the fuzz is the files)."""

    def __init__(self, chip: EmrtdChip) -> None:
        self.chip = chip

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def info(self) -> DeviceInfo:
        return DeviceInfo(DeviceKind.CARD_READER, "memory", "memory:")

    def self_test(self) -> SelfTestResult:
        return SelfTestResult(passed=True, checks={})

    def card_present(self) -> bool:
        return True

    def power_on(self) -> ATR:
        self.chip.reset()
        return ATR.parse(self.chip.atr)

    def power_off(self) -> None:
        pass

    @property
    def supports_extended(self) -> bool:
        return False

    def exchange(self, command: bytes) -> bytes:
        return self.chip.process(command)


@dataclass
class Tally:
    inputs: int = 0
    typed: int = 0
    unexpected: collections.Counter = field(default_factory=collections.Counter)
    examples: dict = field(default_factory=dict)
    seconds: float = 0.0

    def run(self, check: Callable[[], object], allowed: tuple[type[BaseException], ...]) -> None:
        self.inputs += 1
        try:
            check()
        except allowed:
            self.typed += 1
        except Exception as error:  # what the fuzz is here to count
            frame = traceback.extract_tb(error.__traceback__)[-1]
            key = f"{type(error).__name__} at {frame.filename.rsplit('/', 2)[-1]}:{frame.lineno}"
            self.unexpected[key] += 1
            self.examples.setdefault(key, traceback.format_exc(limit=-4))


def _verify(sod: bytes, groups: dict[str, bytes], trust: CscaStore) -> Callable[[], object]:
    return lambda: passive_authentication(sod, groups, trust)


#: The values each byte of EF.SOD is set to in turn (None: its complement).  0x00, 0x11 and 0x88
#: found IndexError, InvalidVersion and AttributeError escaping passive authentication (issue 14).
ONE_BYTE_VALUES = (None, 0x00, 0x11, 0x88)


def run(counts: dict[str, int], *, seed: int = 1, pki_algorithms: tuple[str, ...] = ("ecdsa", "rsa"),
        one_byte_values: tuple[int | None, ...] = ONE_BYTE_VALUES) -> dict[str, Tally]:
    """Fuzz each target ``counts[name]`` times; the tallies by target."""
    rng = random.Random(seed)
    citizen = make_citizen(seed)
    pkis = [make_pki(algorithm=a) for a in pki_algorithms]
    key = aa_key("rsa")
    cards = [build_files(citizen, pki, aa_key=key, ca_public_key=ca_key().public_key()) for pki in pkis]
    trusts = [CscaStore([pki.csca_certificate]) for pki in pkis]
    files = cards[0] | {"CardAccess": card_access()}
    tallies: dict[str, Tally] = collections.defaultdict(Tally)
    parsers = {"COM": (parse_ef_com, LdsError), "DG1": (parse_dg1, LdsError), "DG2": (parse_dg2, LdsError),
               "DG13": (parse_dg13, LdsError), "DG14": (parse_dg14, Dg14Error), "DG15": (parse_dg15, Dg15Error),
               "CardAccess": (parse_card_access, ValueError)}
    for name, (parse, typed) in parsers.items():
        tally, started = tallies[name], time.perf_counter()
        for _ in range(counts.get(name, 0)):
            mutant = mutate(files[name], rng)
            tally.run(lambda mutant=mutant, parse=parse: parse(mutant), (typed,))
        tally.seconds = time.perf_counter() - started
    for index, (card, trust) in enumerate(zip(cards, trusts, strict=True)):
        groups = {n: d for n, d in card.items() if n.startswith("DG")}
        label = f"SOD ({pki_algorithms[index]})"
        tally, started = tallies[label], time.perf_counter()
        for _ in range(counts.get("SOD", 0) // len(cards)):
            mutant = mutate(card["SOD"], rng)
            tally.run(_verify(mutant, groups, trust), ())
        tally.seconds = time.perf_counter() - started
        if counts.get("SOD", 0):
            label = f"SOD one-byte ({pki_algorithms[index]})"
            tally, started = tallies[label], time.perf_counter()
            for mutant in one_byte_changes(card["SOD"], one_byte_values):
                tally.run(_verify(mutant, groups, trust), ())
            tally.seconds = time.perf_counter() - started
    access = cccd_access(citizen.personal_id, citizen.birth_date.strftime("%y%m%d"),
                         citizen.expiry_date.strftime("%y%m%d"))
    tally, started = tallies["card"], time.perf_counter()
    for _ in range(counts.get("card", 0)):
        target = rng.choice(("COM", "DG1", "DG2", "DG13", "DG14", "DG15", "SOD", "CardAccess"))
        mutated = dict(files) | {target: mutate(files[target], rng)}
        reader = MemoryReader(EmrtdChip(citizen, files=mutated, aa_key=key, ca_key=ca_key()))
        tally.run(lambda reader=reader: read_identity_document(reader, access, trusts[0], options=ReadOptions()),
                  (ExplainedError,))
    tally.seconds = time.perf_counter() - started
    return dict(tallies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="1/1000 of the inputs (the tests run it)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every count")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    scale = 0.001 if args.smoke else args.scale
    tallies = run({name: max(1, round(count * scale)) for name, count in COUNTS.items()}, seed=args.seed,
                  one_byte_values=(None,) if args.smoke else ONE_BYTE_VALUES)
    print(f"{'target':22} {'inputs':>9} {'typed errors':>13} {'other exceptions':>17} {'seconds':>8}")
    for name, tally in tallies.items():
        print(f"{name:22} {tally.inputs:9d} {tally.typed:13d} {sum(tally.unexpected.values()):17d} "
              f"{tally.seconds:8.1f}")
    total = sum(t.inputs for t in tallies.values())
    unexpected = sum(sum(t.unexpected.values()) for t in tallies.values())
    print(f"{'all':22} {total:9d} {'':13} {unexpected:17d}")
    for name, tally in tallies.items():
        for key, count in tally.unexpected.most_common():
            print(f"\n{name}: {count} x {key}\n{tally.examples[key]}")


if __name__ == "__main__":
    main()
