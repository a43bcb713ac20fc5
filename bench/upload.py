"""Uploads per second of 2 MB sealed packets to a local receiver over TLS with client certificates.

The receiver runs as its own process (``enrol receiver serve``: uvicorn, TLS, client-certificate
verification, decrypt + verify + manifest check + durable store + signed receipt per packet).
Stations are threads, each with its own HTTPS connection and its own station certificate (issued
by the development station CA: the receiver allows a station two uploads at a time, so one
certificate shared by 30 threads would measure that limit, not the receiver); each PUT's receipt
is verified as the uploader does.  Packets are sealed beforehand (distinct ids),
so only the upload is timed.  MOSIP publishes 0.97 packets/s for its registration processor at
30 concurrent clients (for comparison only: different hardware and work per packet).

    .venv/bin/python bench/upload.py [--smoke] [--packets 60] [--clients 1,4,30]

First, the receiver's memory: its resident size idle, then its peak (VmHWM) while 8 clients upload
a 60 MB packet each at once (the receiver admits bodies within a byte budget: receiver/app.py).

``--smoke`` (the tests run it): 3 packets of 0.2 MB, one client; memory with 2 packets of 1 MB.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _shared
import httpx
from cryptography.hazmat.primitives import serialization

from crypto.keys import generate_station_key, load_certificate
from crypto.pki import DevPki, StationSubject, issue_station_certificate, make_csr
from crypto.receipt import verify_receipt
from crypto.seal import seal
from packet.build import build_packet
from station.config import load_config
from station.identity import load_identity
from station.outbox.uploader import upload_headers

PACKET_BYTES = 2_000_000




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=60, help="packets per concurrency level")
    parser.add_argument("--clients", default="1,4,30", help="concurrency levels, comma-separated")
    parser.add_argument("--smoke", action="store_true", help="quick run: 3 small packets, one client")
    args = parser.parse_args()
    size, big_count, big_size = PACKET_BYTES, 8, 60_000_000
    if args.smoke:
        args.packets, args.clients, size, big_count, big_size = 3, "1", 200_000, 2, 1_000_000
    synthetic = _shared.synthetic()
    with tempfile.TemporaryDirectory() as folder:
        port = synthetic.free_port()
        config_file = Path(folder) / "station.toml"
        # The receiver has its own configuration (none here: the station's development PKI); only its port is set.
        config_file.write_text(f'[station]\nid = "NA-HUNGDUNG-01"\nsimulated = true\n'
                               f'[paths]\ndata_dir = "{folder}/data"\n'
                               f'[outbox]\nreceiver_url = "https://127.0.0.1:{port}"\n')
        config = load_config(config_file)
        identity = load_identity(config)
        base = len(build_packet(synthetic.record(fingers=0, cheap=True)))
        levels = [int(n) for n in args.clients.split(",")]

        def sealed(padding: int) -> tuple[str, bytes]:
            record = synthetic.record(fingers=0, cheap=True, padding=padding)
            return str(record.packet_id), bytes(seal(build_packet(record), identity.signer,
                                                     identity.registry_certificate, chain=identity.chain))

        big = [sealed(big_size - base) for _ in range(big_count)]
        packets = [sealed(size - base) for _ in range(args.packets * len(levels))]
        enrol = str(Path(sys.executable).with_name("enrol"))
        log_file = Path(folder) / "receiver.log"
        with log_file.open("wb") as log:
            server = subprocess.Popen([enrol, "--config", str(config_file), "receiver", "serve", "--port", str(port)],
                                      stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            _wait_for(identity, port, server, log_file)
            contexts = _station_contexts(identity, Path(folder) / "data" / "dev-pki", max([*levels, len(big)]))
            idle = _status_mib(server.pid, "VmRSS")
            _run(identity, port, big, contexts[:len(big)])
            peak = _status_mib(server.pid, "VmHWM")
            print(f"receiver memory: {idle:.0f} MiB idle; peak {peak:.0f} MiB while {len(big)} clients uploaded "
                  f"{len(big[0][1]) / 1e6:.0f} MB each at once: {peak - idle:.0f} MiB over idle")
            print(f"packet size {len(packets[0][1]) / 1e6:.2f} MB sealed; receiver pid {server.pid}")
            print(f"{'clients':>7} {'packets':>7} {'seconds':>8} {'packets/s':>9} {'MB/s':>6}")
            for level in levels:
                batch, packets = packets[:args.packets], packets[args.packets:]
                elapsed = _run(identity, port, batch, contexts[:level])
                print(f"{level:7d} {len(batch):7d} {elapsed:8.2f} {len(batch) / elapsed:9.2f} "
                      f"{len(batch) * size / 1e6 / elapsed:6.1f}")
        finally:
            server.terminate()
            server.wait(10)


def _status_mib(pid: int, field: str) -> float:
    """A /proc/PID/status memory figure (VmRSS now, VmHWM the peak so far) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")


def _wait_for(identity, port: int, server: subprocess.Popen, log_file: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the receiver exited with status {server.returncode}:\n"
                               f"{log_file.read_text(errors='replace')[-3000:]}")
        try:
            with httpx.Client(verify=identity.ssl_context()) as client:
                if client.get(f"https://127.0.0.1:{port}/health").status_code == 200:
                    return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"the receiver did not start in 30 s:\n{log_file.read_text(errors='replace')[-3000:]}")


def _station_contexts(identity, pki_dir: Path, count: int) -> list[ssl.SSLContext]:
    """TLS client contexts for ``count`` stations of the development station CA, one certificate each."""
    pki = DevPki(pki_dir)
    ca, ca_key = load_certificate(pki.station_ca), pki.ca_key(pki.station_ca_key)
    contexts = []
    for index in range(count):
        key = generate_station_key()
        certificate = issue_station_certificate(make_csr(StationSubject(f"NA-BENCH-{index:02d}", "40", "412"), key),
                                                ca, ca_key)
        files = pki_dir / f"bench-{index:02d}"
        files.mkdir(exist_ok=True)
        (files / "station.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        (files / "station.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                              serialization.PrivateFormat.PKCS8,
                                                              serialization.NoEncryption()))
        context = ssl.create_default_context(cafile=str(identity.tls_ca))
        context.load_cert_chain(files / "station.pem", files / "station.key")
        contexts.append(context)
    return contexts


def _run(identity, port: int, batch: list[tuple[str, bytes]], contexts: list[ssl.SSLContext]) -> float:
    queue = list(batch)
    lock = threading.Lock()
    failures: list[str] = []

    def station(context: ssl.SSLContext) -> None:
        with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=context, timeout=120) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    packet_id, sealed = queue.pop()
                response = client.put(f"/v1/packets/{packet_id}", content=sealed,
                                      headers=upload_headers(hashlib.sha256(sealed).digest()))
                if response.status_code != 201:
                    failures.append(f"{packet_id}: {response.status_code} {response.text[:120]}")
                    continue
                verify_receipt(response.content, identity.receipt_trust, packet_id=packet_id,
                               sealed_sha256=hashlib.sha256(sealed).hexdigest())

    threads = [threading.Thread(target=station, args=(context,)) for context in contexts]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} uploads failed: {failures[:3]}")
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
