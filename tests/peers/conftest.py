"""Third-party peers run against the station's code.

``vicc``: vsmartcard's ePassport emulator as Debian ships it (vsmartcard-vpicc,
python3-virtualsmartcard 3.3), in its own process under Debian's Python 3, connected to the
second vpcd reader of a private pcscd (hardware_sim.pcscd).  So the whole real stack is between
the reader and a chip no one here wrote: pyscard -> libpcsclite -> pcscd -> vpcd -> vicc.

Debian's vicc 3.3 does not run on Python 3 as shipped; the fixture corrects it on a temporary copy
and nowhere else (the system's files are only read):

* ``vicc/py3.patch`` (applied with ``patch -p1`` to the copy): the Python 2 leftovers, each named
  in the patch's header - none changes what vicc sends on the wire;
* ``vicc/run_epass.py`` (the process started): puts the copy on the interpreter's path (the
  package folder is not on it), maps vicc's ``Crypto`` imports onto Debian's python3-pycryptodome
  (``Cryptodome``; vicc does not declare the dependency), and gives vicc's own ePass classes
  standard card data instead of its interactive generator (``raw_input``, non-standard files);
* ``vicc/card_data.py``: the card data - ICAO's TD3 specimen (the BAC worked example's MRZ),
  EF.COM, DG1, DG2 (a JPEG in an ISO/IEC 19794-5 record) and EF.SOD signed by ``openssl cms``
  with a CSCA and Document Signer made by ``openssl req``/``x509``.

What stays vicc's own, and is what the tests are here to meet: no short EF identifiers, READ
BINARY past the end answered 6282, protected responses without DO'99', MACs only on 9000.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

import pytest

from hardware_sim.pcscd import READERS, PcscdUnavailable, PrivatePcscd

VICC_PACKAGE = Path("/usr/lib/python3/site-packages/virtualsmartcard/virtualsmartcard")
SYSTEM_PYTHON = "/usr/bin/python3"
HERE = Path(__file__).parent / "vicc"
VICC_READER = READERS[1]


def load_card_data():
    """``tests/peers/vicc/card_data.py`` as a module (the tests import no test folder as a package)."""
    if "vicc_card_data" not in sys.modules:
        spec = spec_from_file_location("vicc_card_data", HERE / "card_data.py")
        module = module_from_spec(spec)
        sys.modules["vicc_card_data"] = module
        spec.loader.exec_module(module)
    return sys.modules["vicc_card_data"]


@dataclass
class ViccCard:
    """The card data and the patched copy of vicc made for a module."""

    folder: Path
    package: Path
    files: dict[str, bytes]

    @property
    def csca_pem(self) -> bytes:
        return (self.folder / "csca.pem").read_bytes()


def patched_copy(destination: Path) -> Path:
    """A copy of Debian's vicc package with vicc/py3.patch applied; the folder to put on sys.path."""
    if not VICC_PACKAGE.is_dir() or not Path(SYSTEM_PYTHON).exists():
        raise FileNotFoundError("vicc is needed: Debian's vsmartcard-vpicc and python3-virtualsmartcard "
                                "(scripts/setup.sh installs them)")
    package = destination / "virtualsmartcard"
    shutil.copytree(VICC_PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(["patch", "-p1", "--quiet", "-i", str(HERE / "py3.patch")], cwd=package, check=True,
                   capture_output=True, timeout=30)
    return destination


@pytest.fixture(scope="module")
def vicc_card(tmp_path_factory) -> ViccCard:
    folder = tmp_path_factory.mktemp("vicc")
    try:
        package = patched_copy(folder / "package")
    except FileNotFoundError as error:
        pytest.fail(str(error))
    files = load_card_data().write_card(folder / "card")
    return ViccCard(folder / "card", package, files)


@pytest.fixture(scope="module")
def pcscd():
    try:
        daemon = PrivatePcscd().start()
    except PcscdUnavailable as error:
        pytest.fail(str(error))
    yield daemon
    daemon.stop()


class ViccProcess:
    """vicc running in its own process, its card in vpcd's second reader."""

    def __init__(self, card: ViccCard, port: int, log: Path) -> None:
        self.log = log
        with log.open("w") as output:
            self.process = subprocess.Popen(
                [SYSTEM_PYTHON, "-I", str(HERE / "run_epass.py"), "--package", str(card.package),
                 "--files", str(card.folder / "files"), "--port", str(port)],
                stdout=output, stderr=subprocess.STDOUT)

    def wait_connected(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while "vicc connected" not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"vicc did not start: {self.log.read_text()[-3000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def errors(self) -> str:
        """vicc's own tracebacks (a Python error inside vicc, not a status word it meant to send)."""
        text = self.log.read_text()
        return text[text.find("Traceback"):] if "Traceback" in text else ""


@pytest.fixture
def vicc(pcscd, vicc_card, tmp_path):
    """vicc's ePass in the reader named :data:`VICC_READER`, for one test."""
    process = ViccProcess(vicc_card, pcscd.port + 1, tmp_path / "vicc.log")
    try:
        process.wait_connected()
    except RuntimeError as error:
        pytest.fail(str(error))
    yield process
    process.stop()
    assert not process.errors(), process.errors()
