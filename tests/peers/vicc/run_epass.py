"""Run Debian's vicc 3.3 ePass emulator (python3-virtualsmartcard) under Debian's Python 3 with
standard card data, connected to a vpcd reader.  Started by ``tests/peers/conftest.py``; run it as

    /usr/bin/python3 run_epass.py --package COPY --files FOLDER --port PORT

COPY is a temporary copy of ``/usr/lib/python3/site-packages/virtualsmartcard`` with ``py3.patch``
applied (the patch's header says what each hunk corrects); FOLDER holds the card's files named
``COM``, ``DG1``, ``DG2``, ``SOD`` ... (raw bytes, tag and length included).

What this script changes in vicc at run time, and nothing else (vicc's protocol code is used as is):

* ``Crypto``: vicc imports PyCrypto's names; Debian's python3-pycryptodome installs the same API
  as ``Cryptodome`` (PyPI's pycryptodome calls it ``Crypto``), so ``Crypto.*`` is an alias of it.
* The card: vicc's own ePass generator asks for an MRZ on the terminal (``raw_input``) and builds
  non-standard files (EF.COM's tag list as ASCII text, DG2 without its outer tag 75, an empty
  EF.SOD at the FID of DG13).  Here the same vicc classes (MF, DF, TransparentStructureEF,
  PassportSAM, Iso7816OS) are given the folder's files at their 9303-10 FIDs - with no short EF
  identifier, as vicc's generator makes them.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.abc
import importlib.util
import logging
import sys
from pathlib import Path

#: (file name, FID) of the LDS files vicc is given (ICAO 9303-10 table 39).
FIDS = {"COM": 0x011E, "SOD": 0x011D, **{f"DG{n}": 0x0100 + n for n in range(1, 17)}}
EMRTD_AID = bytes.fromhex("A0000002471001")


class _CryptodomeAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import Crypto.X`` gives ``Cryptodome.X``."""

    def find_spec(self, name, path=None, target=None):
        if name == "Crypto" or name.startswith("Crypto."):
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return importlib.import_module("Cryptodome" + spec.name[len("Crypto"):])

    def exec_module(self, module):
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--package", required=True, help="the patched copy of vicc's package folder")
    parser.add_argument("--files", required=True, help="folder of the card's files")
    parser.add_argument("--port", type=int, required=True, help="vpcd's port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    sys.meta_path.insert(0, _CryptodomeAlias())
    sys.path.insert(0, args.package)

    from virtualsmartcard import VirtualSmartcard
    from virtualsmartcard.CardGenerator import CardGenerator
    from virtualsmartcard.cards.ePass import PassportSAM
    from virtualsmartcard.SmartcardFilesystem import DF, MF, TransparentStructureEF

    mf = MF()
    application = DF(parent=mf, fid=4, dfname=EMRTD_AID, bertlv_data=[])
    for path in sorted(Path(args.files).iterdir()):
        if path.name in FIDS:
            application.append(TransparentStructureEF(parent=application, fid=FIDS[path.name], filedescriptor=0,
                                                      data=path.read_bytes()))
    mf.append(application)
    sam = PassportSAM(mf)
    VirtualSmartcard.CardGenerator = lambda card_type: CardGenerator(card_type, sam, mf)
    vicc = VirtualSmartcard.VirtualICC(None, "ePass", args.host, args.port,
                                       logginglevel=logging.DEBUG if args.verbose else logging.WARNING)
    print("vicc connected", flush=True)
    vicc.run()


if __name__ == "__main__":
    main()
