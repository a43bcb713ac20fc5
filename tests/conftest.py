"""Fixtures shared across test folders: real components the tests talk to."""

import os
import shutil
import subprocess
import sys
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

import pytest

SOFTHSM_MODULE = next((p for p in ("/usr/lib/softhsm/libsofthsm2.so",
                                   "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                                   "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so") if Path(p).exists()), None)


@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory):
    """A fresh SoftHSM2 token in a private folder (SOFTHSM2_CONF), user PIN 1234."""
    if SOFTHSM_MODULE is None or shutil.which("softhsm2-util") is None:
        pytest.skip("SoftHSM2 is not installed (scripts/setup.sh installs it)")
    folder = tmp_path_factory.mktemp("softhsm")
    (folder / "tokens").mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "station", "--pin", "1234",
                    "--so-pin", "5678"], check=True, capture_output=True, timeout=30)
    yield SOFTHSM_MODULE
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous




SYNTHETIC = Path(__file__).parent / "e2e" / "synthetic.py"


@pytest.fixture(scope="session")
def synthetic():
    """``tests/e2e/synthetic.py``: synthetic enrolment records, the plaintext scan, an in-process receiver."""
    if "synthetic_enrolment" not in sys.modules:
        spec = spec_from_file_location("synthetic_enrolment", SYNTHETIC)
        module = module_from_spec(spec)
        sys.modules["synthetic_enrolment"] = module
        spec.loader.exec_module(module)
    return sys.modules["synthetic_enrolment"]
