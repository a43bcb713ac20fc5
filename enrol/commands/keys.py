"""``enrol keys init | install``: the station's key, its certificate request, and the issued certificate."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from crypto.durable import write_atomically
from crypto.errors import CryptoError, KeyStoreError
from crypto.keys import (
    Pkcs11Signer,
    generate_pkcs11_key,
    generate_station_key,
    load_certificate,
    load_certificates,
    load_private_key,
    read_secret,
    write_encrypted_key,
)
from crypto.pki import StationSubject, check_issued_certificate, make_csr
from crypto.trust import TrustStore
from enrol.arguments import existing_file
from enrol.commands import EXIT_DEVICE, EXIT_OK, EXIT_USAGE
from kiosk.i18n import _
from station.config import KeysConfig, StationConfig


def register(subcommands: argparse._SubParsersAction) -> None:
    keys = subcommands.add_parser("keys", help=_("the station's signing key and certificate"))
    actions = keys.add_subparsers(dest="keys_action", required=True)
    init = actions.add_parser("init", help=_("make the station key and a certificate request (CSR)"))
    init.add_argument("--province", help=_("province code for the certificate subject"))
    init.add_argument("--district", help=_("district code for the certificate subject"))
    init.add_argument("--csr", type=Path, help=_("where to write the CSR (default: next to the key)"))
    init.add_argument("--force", action="store_true", help=_("replace an existing key file"))
    init.set_defaults(handler=_init)
    install = actions.add_parser("install", help=_("install the certificate issued for the station key"))
    install.add_argument("certificate", type=existing_file, metavar="CERT")
    install.set_defaults(handler=_install)


def _init(args: argparse.Namespace, config: StationConfig) -> int:
    keys = config.keys
    province, district = args.province or keys.province, args.district or keys.district
    if not province or not district:
        print(_("Give the province and district codes (--province, --district or [keys])."), file=sys.stderr)
        return EXIT_USAGE
    subject = StationSubject(config.station_id, province, district)
    try:
        if keys.pkcs11_module:
            pin = read_secret(file=keys.pin_file, credential=keys.pin_credential)
            generate_pkcs11_key(keys.pkcs11_module, _token(keys), keys.pkcs11_label, pin)
            signer = Pkcs11Signer(keys.pkcs11_module, _token(keys), keys.pkcs11_label, pin)
            csr = make_csr(subject, signer)
            signer.close()
            default_csr = Path(f"{config.station_id}.csr")
        elif keys.key_file:
            if keys.key_file.exists() and not args.force:
                print(_("{path} exists; use --force to replace the station key.").format(path=keys.key_file),
                      file=sys.stderr)
                return EXIT_USAGE
            passphrase = read_secret(file=keys.passphrase_file, credential=keys.passphrase_credential)
            key = generate_station_key()
            csr_path = args.csr or keys.key_file.with_suffix(".csr")
            # the request first: if it cannot be written, the station's key (and the certificate
            # installed for it) is still the one in place; if the key cannot be, no orphan request stays
            write_atomically(csr_path, make_csr(subject, key))
            try:
                write_encrypted_key(keys.key_file, key, passphrase)
            except BaseException:
                csr_path.unlink(missing_ok=True)
                raise
            print(_("Certificate request written to {path}; send it to the station CA.").format(path=csr_path))
            return EXIT_OK
        else:
            print(_("Configure [keys] key_file (or pkcs11_module) first; without it the station uses the "
                    "development PKI (enrol pki dev)."), file=sys.stderr)
            return EXIT_USAGE
    except KeyStoreError as error:
        print(_("Key store error: {error}").format(error=error), file=sys.stderr)
        return EXIT_DEVICE
    csr_path = args.csr or default_csr
    csr_path.write_bytes(csr)
    print(_("Certificate request written to {path}; send it to the station CA.").format(path=csr_path))
    return EXIT_OK


def _install(args: argparse.Namespace, config: StationConfig) -> int:
    keys = config.keys
    if keys.certificate is None or keys.station_ca is None or not keys.configured:
        print(_("Configure [keys] certificate, station_ca and the key (key_file or pkcs11_module) first."),
              file=sys.stderr)
        return EXIT_USAGE
    try:
        certificate = load_certificate(args.certificate)
        check_issued_certificate(certificate, _public_key(keys), TrustStore(load_certificates(keys.station_ca)),
                                 station_id=config.station_id)
    except CryptoError as error:
        print(_("Certificate refused: {error}").format(error=error), file=sys.stderr)
        return EXIT_DEVICE
    keys.certificate.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.certificate, keys.certificate)
    print(_("Certificate installed in {path}; valid until {date}.").format(
        path=keys.certificate, date=f"{certificate.not_valid_after_utc:%Y-%m-%d}"))
    return EXIT_OK


def _public_key(keys: KeysConfig) -> object:
    if keys.pkcs11_module:
        pin = read_secret(file=keys.pin_file, credential=keys.pin_credential)
        signer = Pkcs11Signer(keys.pkcs11_module, _token(keys), keys.pkcs11_label, pin)
        try:
            return signer.public_key()
        finally:
            signer.close()
    passphrase = read_secret(file=keys.passphrase_file, credential=keys.passphrase_credential)
    return load_private_key(keys.key_file, passphrase).public_key()  # type: ignore[arg-type]


def _token(keys: KeysConfig) -> str:
    if not keys.pkcs11_token:
        raise KeyStoreError("[keys] pkcs11_token must name the token")
    return keys.pkcs11_token


