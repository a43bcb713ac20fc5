#!/usr/bin/env bash
# Set up everything the station and its tests need on a fresh Debian machine, idempotently:
#   1. system packages (pcscd + vpcd for real PC/SC tests, vsmartcard's vicc with the Debian Python
#      packages it runs on for the peer chip of tests/peers, SoftHSM2 for PKCS#11, Xvfb + Mesa for
#      Kivy, swig + libpcsclite-dev to build pyscard) — installed only when missing;
#   2. .venv with the project and its test tools — reinstalled only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(pcscd vsmartcard-vpcd vsmartcard-vpicc python3-virtualsmartcard python3-pycryptodome patch openssl
              softhsm2 opensc xvfb xauth swig libpcsclite-dev
              libgl1 libegl1 libgles2 libmtdev1 libgl1-mesa-dri)

missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
        echo "Missing system packages: ${missing[*]} (install them as root)" >&2; exit 1
    fi
    echo "Installing system packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[test]'
    rm -f .venv/.installed-*
    touch "$stamp"
fi
