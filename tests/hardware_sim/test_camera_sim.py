"""The camera simulator speaks MJPEG over HTTP (multipart/x-mixed-replace) and injects its faults."""

import socket
import time

import cv2
import numpy as np
import pytest

from hardware_sim.camera import BOUNDARY, SCENES, STREAM_PATH, CameraSimulator, Scene, corrupt_jpeg, render


@pytest.fixture
def sim():
    with CameraSimulator(320, 240, 30.0) as simulator:
        yield simulator


def _connect(sim: CameraSimulator, path: str = STREAM_PATH) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", sim.port), timeout=2.0)
    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: camera\r\n\r\n".encode())
    return conn


class _Reader:
    def __init__(self, conn: socket.socket) -> None:
        self.conn, self.buffer = conn, b""

    def until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            chunk = self.conn.recv(65536)
            if not chunk:
                raise EOFError
            self.buffer += chunk
        head, self.buffer = self.buffer.split(marker, 1)
        return head

    def exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.conn.recv(65536)
            if not chunk:
                raise EOFError
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def part(self) -> bytes:
        self.until(f"--{BOUNDARY}\r\n".encode())
        headers = dict(line.split(": ", 1) for line in self.until(b"\r\n\r\n").decode().split("\r\n"))
        assert headers["Content-Type"] == "image/jpeg"
        return self.exactly(int(headers["Content-Length"]))


def test_stream_is_multipart_jpeg_at_the_chosen_size(sim):
    reader = _Reader(_connect(sim))
    status = reader.until(b"\r\n\r\n").decode()
    assert status.startswith("HTTP/1.0 200")
    assert f"multipart/x-mixed-replace; boundary={BOUNDARY}" in status
    for _ in range(3):
        image = cv2.imdecode(np.frombuffer(reader.part(), np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (240, 320, 3)


def test_unknown_path_is_404(sim):
    reader = _Reader(_connect(sim, "/other"))
    assert reader.until(b"\r\n").startswith(b"HTTP/1.0 404")


def test_corrupt_parts_keep_the_framing_but_not_the_jpeg(sim):
    reader = _Reader(_connect(sim))
    reader.until(b"\r\n\r\n")
    reader.part()
    sim.corrupt(1)
    parts = [reader.part() for _ in range(3)]
    damaged = [part for part in parts if not part.endswith(b"\xff\xd9")]
    assert len(damaged) == 1 and damaged[0].startswith(b"\xff\xd8")


def test_stall_sends_nothing_until_resumed(sim):
    conn = _connect(sim)
    reader = _Reader(conn)
    reader.until(b"\r\n\r\n")
    reader.part()
    sim.stall()
    time.sleep(0.1)
    reader.buffer = b""
    conn.settimeout(0.1)
    while True:  # drain what was in flight before the stall
        try:
            if not conn.recv(65536):
                break
        except TimeoutError:
            break
    conn.settimeout(0.4)
    with pytest.raises(TimeoutError):
        conn.recv(65536)
    sim.resume()
    conn.settimeout(2.0)
    assert reader.part().startswith(b"\xff\xd8")


def test_unplug_drops_streams_and_refuses_new_ones_until_plugged(sim):
    reader = _Reader(_connect(sim))
    reader.until(b"\r\n\r\n")
    reader.part()
    sim.unplug()
    with pytest.raises(EOFError):
        for _ in range(100):
            reader.part()
    with pytest.raises((EOFError, ConnectionError)):
        _Reader(_connect(sim)).until(b"\r\n\r\n")
    sim.plug()
    reader = _Reader(_connect(sim))
    assert reader.until(b"\r\n\r\n").startswith(b"HTTP/1.0 200")


def test_scene_places_the_face_where_asked():
    good = render(SCENES["good"], 640, 360)
    empty = render(SCENES["no_face"], 640, 360)
    moved = render(Scene(eye_x=0.3), 640, 360)
    face = (slice(100, 260), slice(250, 390))
    assert np.abs(good[face].astype(int) - empty[face].astype(int)).mean() > 20
    assert np.abs(moved[face].astype(int) - empty[face].astype(int)).mean() < np.abs(
        good[face].astype(int) - empty[face].astype(int)).mean()
    assert render(SCENES["dark"], 640, 360).mean() < good.mean() / 2
    assert render(SCENES["blurred"], 640, 360).std() < good.std()


def test_set_scene_by_name_with_changes(sim):
    sim.set_scene("good", roll_deg=5.0)
    assert sim.scene.roll_deg == 5.0 and sim.scene.face
    with pytest.raises(KeyError):
        sim.set_scene("nonexistent")


def test_corrupt_jpeg_has_no_end_marker():
    ok, jpeg = cv2.imencode(".jpg", render(SCENES["good"], 320, 240))
    assert ok and not corrupt_jpeg(jpeg.tobytes()).endswith(b"\xff\xd9")
