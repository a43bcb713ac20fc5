"""Failure tests: SIGKILL between sealing and acknowledgement, a dropped network, a restarted receiver,
a full disk — no packet lost, none stored twice, and never a plaintext file in the station's data dir."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from crypto.pki import StationSubject, load_dev_pki
from station.identity import load_identity
from station.outbox.sealing import seal_record
from station.outbox.store import DiskSpaceLow, PacketState
from station.services import make_uploader, open_outbox

from .kill_runs import KillTally, judge, run_kills

KILLS = 20


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


@pytest.mark.timeout(600)
def test_sigkill_at_random_points_loses_and_duplicates_nothing(station, synthetic):
    """A bounded run of the kill harness (``bench/sigkill.py`` kills hundreds): nothing lost, nothing
    stored twice, every citizen who saw no receipt on the officer's list, no plaintext on disk."""
    data, receiver, config_file = station

    def no_plaintext_now_and_then(tally: KillTally) -> None:
        if tally.runs % 10 == 0:
            _assert_no_plaintext(synthetic, data)

    tally = run_kills(config_file, KILLS, seed=20250301, every_run=no_plaintext_now_and_then)
    assert tally.killed >= KILLS * 2 // 3, f"only {tally.killed} runs were killed before finishing"
    # the kills must spread over the whole path: before the packet is kept, and after
    assert 2 <= tally.killed_after_sealing <= tally.killed - 2, (tally.killed, tally.killed_after_sealing)
    outbox = open_outbox(synthetic.station_config(data, receiver.url))
    verdict = judge(tally, outbox, receiver.intake.store)
    assert not verdict.failures, f"station runs failed by themselves: {verdict.failures}"
    assert not verdict.lost, "a packet reported sealed was lost"
    assert verdict.duplicated == 0, "the receiver holds a duplicate or a stray packet"
    assert verdict.acknowledged == verdict.packets
    assert not verdict.unlisted, "a citizen who saw no receipt is not on the officer's list"
    assert not verdict.wrongly_listed, "a citizen who saw the receipt is on the officer's list"
    assert verdict.not_handed_over, "no kill fell between sealing and the receipt: the list was not tried"
    _assert_all_acknowledged_once(outbox, receiver)
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
