"""A bounded run of bench/emrtd_fuzz.py (the bench runs about 10^6 inputs): mutated EF.COM, DG1, DG2,
DG13 and EF.SOD, every one-byte change of an EF.SOD, and whole-card reads of chips with a mutated
file end in the documented outcomes only - LdsError from the parsers, nothing at all from passive
authentication (a report of failed steps), an ExplainedError or a document from a read."""

import sys
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench" / "emrtd_fuzz.py"


def _bench():
    if "emrtd_fuzz" not in sys.modules:
        spec = spec_from_file_location("emrtd_fuzz", BENCH)
        module = module_from_spec(spec)
        sys.modules["emrtd_fuzz"] = module
        spec.loader.exec_module(module)
    return sys.modules["emrtd_fuzz"]


def test_no_exception_but_the_documented_ones():
    tallies = _bench().run({"COM": 300, "DG1": 300, "DG2": 100, "DG13": 300, "SOD": 100, "card": 20},
                           seed=7, pki_algorithms=("ecdsa",), one_byte_values=(0x00, 0x11, 0x88))
    unexpected = {name: dict(t.unexpected) for name, t in tallies.items() if t.unexpected}
    assert not unexpected, "\n".join(t.examples[k] for t in tallies.values() for k in t.unexpected)
    assert tallies["SOD one-byte (ecdsa)"].inputs > 2500
    assert all(t.typed > 0 for name, t in tallies.items() if name in ("COM", "DG1", "DG2", "DG13"))
