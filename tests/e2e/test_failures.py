"""Failure tests: SIGKILL between sealing and acknowledgement, a dropped network, a restarted receiver,
a full disk — no packet lost, none stored twice, and never a plaintext file in the station's data dir."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from crypto.pki import StationSubject, load_dev_pki
from station.identity import load_identity
from station.outbox.sealing import seal_record
from station.outbox.store import DiskSpaceLow, PacketState
from station.services import make_uploader, open_outbox

WORKER = Path(__file__).with_name("station_worker.py")
KILLS = 50


@pytest.fixture
def station(tmp_path, synthetic):
    """A station data dir with its dev PKI, a receiver (its own data dir) using that PKI, and a config file."""
    data = tmp_path / "station"
    pki = load_dev_pki(data / "dev-pki", StationSubject("NA-HUNGDUNG-01", "00", "000"))
    receiver = synthetic.RunningReceiver(synthetic.receiver_settings(pki, tmp_path / "receiver")).start()
    config_file = tmp_path / "station.toml"
    config_file.write_text(f'[station]\nid = "NA-HUNGDUNG-01"\nsimulated = true\n[paths]\ndata_dir = "{data}"\n'
                           f'[outbox]\nreceiver_url = "{receiver.url}"\n')
    yield data, receiver, config_file
    receiver.stop()


def _assert_no_plaintext(synthetic, data: Path) -> None:
    assert synthetic.scan_for_plaintext(data) == []


def _assert_all_acknowledged_once(outbox, receiver) -> None:
    rows = outbox.list()
    assert rows and all(row.state is PacketState.ACKNOWLEDGED for row in rows), [r.state for r in rows]
    stored = receiver.intake.store.ids()
    assert sorted(stored) == sorted(row.packet_id for row in rows)
    files = [p for p in receiver.intake.store.packets.rglob("*") if p.is_file()]
    assert len(files) == len(rows), "the receiver holds a duplicate or a stray file"
    for row in rows:
        assert receiver.intake.store.get(row.packet_id).sealed_sha256 == row.sha256


def test_sigkill_at_random_points_loses_and_duplicates_nothing(station, synthetic):
    data, receiver, config_file = station
    rng = random.Random(20250301)
    sealed_reported: set[str] = set()
    killed = 0
    killed_after_sealing = 0
    # one uninterrupted run tells how long a worker lives on this machine (mostly imports, then
    # ~50 ms of sealing and uploading); kills are then spread over its second half
    start = time.monotonic()
    subprocess.run([sys.executable, str(WORKER), str(config_file), "1"], capture_output=True, timeout=60, check=True)
    lifetime = time.monotonic() - start
    run = 0
    while killed < KILLS and run < 3 * KILLS:
        run += 1
        worker = subprocess.Popen([sys.executable, str(WORKER), str(config_file), "1"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        time.sleep(rng.uniform(0.5, 1.05) * lifetime)
        was_running = worker.poll() is None
        if was_running:
            worker.send_signal(signal.SIGKILL)
            killed += 1
        out, _ = worker.communicate(timeout=30)
        sealed_now = [line.split()[1] for line in out.splitlines() if line.startswith("sealed")]
        killed_after_sealing += was_running and bool(sealed_now)
        sealed_reported.update(sealed_now)
        if run % 10 == 0:
            _assert_no_plaintext(synthetic, data)
    final = subprocess.run([sys.executable, str(WORKER), str(config_file), "0"], capture_output=True, text=True,
                           timeout=90)
    assert "done" in final.stdout, final.stderr
    assert killed >= 50, f"only {killed} runs were killed before finishing"
    # the kills must spread over the whole path: before sealing ends, and between sealing and the receipt
    assert 5 <= killed_after_sealing <= killed - 5, (killed, killed_after_sealing)
    outbox = open_outbox(synthetic.station_config(data, receiver.url))
    _assert_all_acknowledged_once(outbox, receiver)
    assert sealed_reported <= {row.packet_id for row in outbox.list()}, "a packet reported sealed was lost"
    _assert_no_plaintext(synthetic, data)


class _CuttingProxy:
    """A TCP proxy that cuts each of the first ``cuts`` connections after ``after`` bytes from the station."""

    def __init__(self, target_port: int, *, cuts: int, after: int) -> None:
        self.target_port, self.cuts, self.after = target_port, cuts, after
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            cut_this = self.cut < self.cuts
            self.cut += cut_this
            threading.Thread(target=self._pipe, args=(client, upstream, self.after if cut_this else None),
                             daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, None), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while chunk := source.recv(65536):
                if limit is not None and sent + len(chunk) > limit:
                    sink.sendall(chunk[: limit - sent])
                    break
                sink.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()

    def close(self) -> None:
        self.listener.close()


def _upload_until_done(uploader, outbox, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while outbox.list(PacketState.SEALED, PacketState.UPLOADING) and time.monotonic() < deadline:
        outbox.retry()  # skip the back-off wait; the test is about outcomes, not timing
        uploader.upload_due()


def test_network_drop_mid_upload(station, synthetic):
    data, receiver, _ = station
    proxy = _CuttingProxy(receiver.settings.port, cuts=3, after=40_000)
    config = synthetic.station_config(data, f"https://localhost:{proxy.port}")
    outbox = open_outbox(config)
    identity = load_identity(config)
    for _ in range(3):
        seal_record(synthetic.record(), identity, outbox)
    uploader = make_uploader(config, outbox, identity)
    uploader.upload_due()
    status = outbox.status()
    assert status.counts[PacketState.SEALED] >= 1 and any("network" in e for e in status.last_errors.values())
    _upload_until_done(uploader, outbox)
    proxy.close()
    _assert_all_acknowledged_once(outbox, receiver)
    _assert_no_plaintext(synthetic, data)


def test_receiver_restart(station, synthetic):
    data, receiver, _ = station
    config = synthetic.station_config(data, receiver.url)
    outbox = open_outbox(config)
    identity = load_identity(config)
    uploader = make_uploader(config, outbox, identity)
    first = seal_record(synthetic.record(), identity, outbox)
    uploader.upload_due()
    receiver.stop()
    second = seal_record(synthetic.record(), identity, outbox)
    outbox.retry()
    uploader.upload_due()
    assert outbox.get(second.packet_id).state is PacketState.SEALED
    assert "network" in outbox.status().last_errors[second.packet_id]
    # a crash of the station after the receiver stored but before it recorded the receipt:
    outbox._set(first.packet_id, "state = ?", PacketState.SEALED)
    receiver.start()
    _upload_until_done(uploader, outbox)
    _assert_all_acknowledged_once(outbox, receiver)
    _assert_no_plaintext(synthetic, data)


def test_disk_fills(station, synthetic):
    data, receiver, _ = station
    config = synthetic.station_config(data, receiver.url, min_free_mb=100)
    outbox = open_outbox(config)
    identity = load_identity(config)
    kept = seal_record(synthetic.record(), identity, outbox)
    outbox._free_bytes = lambda _path: 120 * 2**20
    with pytest.raises(DiskSpaceLow) as caught:
        outbox.check_space()
    assert "120 MiB free" in str(caught.value)
    with pytest.raises(DiskSpaceLow):
        seal_record(synthetic.record(), identity, outbox)
    assert [row.packet_id for row in outbox.list()] == [kept.packet_id]
    assert outbox.status().free_bytes == 120 * 2**20
    _upload_until_done(make_uploader(config, outbox, identity), outbox)
    _assert_all_acknowledged_once(outbox, receiver)
    _assert_no_plaintext(synthetic, data)
