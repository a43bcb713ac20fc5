"""Seal and open times for 0.2, 2 and 10 MB packets, as a ratio to raw AES-256-GCM over the same bytes.

Seal = build nothing, only ``crypto.seal.seal`` (SHA-256 + ECDSA P-256 signature + SignedData
encoding + AES-256-GCM + key transport); open = ``crypto.seal.open_sealed`` (decrypt, verify the
signature and the chain).  The packet content is a real packet ZIP (synthetic record) padded with
random bytes in DG2 up to the size.  Raw = ``AESGCM.encrypt``/``decrypt`` of the same bytes.
Medians over several runs, for both registry key kinds (ECDH P-256 and RSA-3072 OAEP).  Alongside,
stock ``openssl cms`` doing the same job on the same bytes (seal = ``-sign`` then ``-encrypt
-aes-256-gcm``; open = ``-decrypt`` then ``-verify``), as two processes each way, start-up included.

    .venv/bin/python bench/seal.py [--smoke]

``--smoke`` (the tests run it): the 0.2 MB packet only, 3 runs per median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import _shared
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.keys import RecipientKey, load_certificate
from crypto.pki import StationSubject, create_dev_pki
from crypto.seal import open_sealed, seal
from crypto.trust import TrustStore
from packet.build import build_packet

SIZES_MB = (0.2, 2.0, 10.0)




def _median_ms(function, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _runs(size_mb: float) -> int:
    return 30 if size_mb < 1 else 10 if size_mb < 5 else 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="quick run: the smallest packet, 3 runs per median")
    args = parser.parse_args()
    sizes, runs_for = (SIZES_MB[:1], lambda size_mb: 3) if args.smoke else (SIZES_MB, _runs)
    synthetic = _shared.synthetic()
    base = len(build_packet(synthetic.record(fingers=0, cheap=True)))
    with tempfile.TemporaryDirectory() as folder:
        print(f"{'registry key':12} {'size':>7} {'seal ms':>8} {'open ms':>8} {'AES-GCM enc':>11} {'dec ms':>7} "
              f"{'seal/raw':>8} {'open/raw':>8} {'openssl seal':>12} {'open':>6}")
        for kind in ("ec", "rsa"):
            pki = create_dev_pki(Path(folder) / kind, StationSubject("BENCH-1", "40", "412"), registry_key_type=kind)
            signer = pki.station_signer()
            recipient_certificate = load_certificate(pki.registry_certificate)
            recipient = RecipientKey.from_files(pki.registry_key, pki.registry_certificate)
            trust = TrustStore([load_certificate(pki.station_ca)])
            for size_mb in sizes:
                target = int(size_mb * 1_000_000)
                content = build_packet(synthetic.record(fingers=0, cheap=True, padding=max(0, target - base)))
                runs = runs_for(size_mb)
                sealed = seal(content, signer, recipient_certificate)
                seal_ms = _median_ms(lambda: seal(content, signer, recipient_certificate), runs)  # noqa: B023
                open_ms = _median_ms(lambda: open_sealed(sealed, recipient, trust), runs)  # noqa: B023
                key, nonce = AESGCM.generate_key(256), os.urandom(12)
                ciphertext = AESGCM(key).encrypt(nonce, content, None)
                enc_ms = _median_ms(lambda: AESGCM(key).encrypt(nonce, content, None), runs)  # noqa: B023
                dec_ms = _median_ms(lambda: AESGCM(key).decrypt(nonce, ciphertext, None), runs)  # noqa: B023
                openssl_seal, openssl_open = _openssl_ms(Path(folder) / kind, pki, content, runs)
                print(f"{kind:12} {len(content) / 1e6:5.2f}MB {seal_ms:8.2f} {open_ms:8.2f} {enc_ms:11.2f} "
                      f"{dec_ms:7.2f} {seal_ms / enc_ms:8.1f} {open_ms / dec_ms:8.1f} {openssl_seal:12.1f} "
                      f"{openssl_open:6.1f}")


def _openssl_ms(folder: Path, pki: object, content: bytes, runs: int) -> tuple[float, float]:
    """Median ms of ``openssl cms`` sealing and opening ``content`` as the station and registry do."""
    plain, signed, sealed, opened = (folder / name for name in ("plain.zip", "signed.der", "sealed.p7m", "opened"))
    plain.write_bytes(content)
    oaep = ["-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"] if "rsa" in folder.name else []

    def run(*args: object) -> None:
        subprocess.run(["openssl", "cms", *map(str, args)], check=True, capture_output=True, timeout=120)

    def seal_with_openssl() -> None:
        run("-sign", "-binary", "-nodetach", "-md", "sha256", "-in", plain, "-signer", pki.station_certificate,  # type: ignore[attr-defined]
            "-inkey", pki.station_key, "-passin", f"file:{pki.station_passphrase}",  # type: ignore[attr-defined]
            "-outform", "DER", "-out", signed)
        run("-encrypt", "-aes-256-gcm", "-binary", "-in", signed, "-outform", "DER", "-out", sealed,
            "-recip", pki.registry_certificate, *oaep)  # type: ignore[attr-defined]

    def open_with_openssl() -> None:
        run("-decrypt", "-binary", "-inform", "DER", "-in", sealed, "-recip", pki.registry_certificate,  # type: ignore[attr-defined]
            "-inkey", pki.registry_key, "-out", signed)  # type: ignore[attr-defined]
        # the station CA as the anchor by itself, as the receiver has it
        run("-verify", "-binary", "-inform", "DER", "-in", signed, "-CAfile", pki.station_ca,  # type: ignore[attr-defined]
            "-partial_chain", "-out", opened)

    seal_ms = _median_ms(seal_with_openssl, runs)
    return seal_ms, _median_ms(open_with_openssl, runs)


if __name__ == "__main__":
    main()
