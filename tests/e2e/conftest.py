"""Fixtures of the end-to-end tests: the synthetic records module, a station data dir with its dev PKI."""

from pathlib import Path

import pytest

SYNTHETIC = Path(__file__).with_name("synthetic.py")


@pytest.fixture(scope="session")
def synthetic():
    import sys
    from importlib.util import module_from_spec, spec_from_file_location

    if "synthetic_enrolment" not in sys.modules:
        spec = spec_from_file_location("synthetic_enrolment", SYNTHETIC)
        module = module_from_spec(spec)
        sys.modules["synthetic_enrolment"] = module
        spec.loader.exec_module(module)
    return sys.modules["synthetic_enrolment"]
