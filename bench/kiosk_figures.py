"""Kiosk figures, on the simulated station under Xvfb (software OpenGL, llvmpipe):

1. cold start to the first screen: a fresh Python process, from its launch to the welcome screen
   drawn (imports, simulated station, development PKI, services, Kivy window, every screen built);
2. resident memory (VmRSS) with the app up and every device open (camera streaming, scanner, reader),
   for comparison with figure 5;
3. preview frames shown per second on the face screen while the face is analysed (auto-capture held
   off), with the analyses per second alongside;
4. one scripted complete enrolment driven by touches (card, data, face, all ten fingers in the
   TenPrintPolicy's order, review, consent with the officer PIN, receipt), total and without the
   simulated citizen's time (rendering each finger impression) and the countdown before the photo;
5. resident memory after that enrolment, on the receipt screen, with every device open again: what
   an enrolment leaves behind (every module of the path imported, the packet sealed and uploaded;
   the face models, the captured data and every screen of the enrolment but the receipt already
   released, as the kiosk does once the record is sealed), with the share of the simulators (the
   citizen's rendered fingers, the camera's photograph), which share the station's process; and
   the peak of the whole run (VmHWM), reached mid-enrolment.

The registry's receiver runs as a process of its own (``enrol receiver serve``), as the registry
is another machine; its memory is not the station's.  Under Xvfb the OpenGL is Mesa's software
renderer (llvmpipe): its code (libLLVM, swrast_dri) is about 62 MiB of every resident figure, which
a station with a GPU driver does not map (it maps its GPU driver instead).

    .venv/bin/python bench/kiosk_figures.py [--smoke]    (re-runs itself under xvfb-run when there is no display)

``--smoke`` (the tests run it): the same five figures, shorter: 1 s of preview instead of 10 and
the first two fingers of the order instead of ten.  The cold start, Xvfb's start and the app's own
waits stay: ~20 s in all.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

LAUNCHED = time.monotonic()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="quick run: 1 s of preview, two fingers")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # the measured process
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        xvfb = shutil.which("xvfb-run")
        if not xvfb:
            print("needs a display or xvfb-run", file=sys.stderr)
            return 1
        return subprocess.call([xvfb, "-a", "-s", "-screen 0 1280x800x24", sys.executable, *sys.argv])
    if args.child:
        return child(smoke=args.smoke)
    with tempfile.TemporaryDirectory(prefix="kiosk-bench-") as scratch:  # the child's data and Kivy home, removed
        started = time.monotonic()
        output = subprocess.run([sys.executable, __file__, "--child", *(["--smoke"] if args.smoke else [])],
                                capture_output=True, text=True, check=False, env={**os.environ, "TMPDIR": scratch})
        total = time.monotonic() - started
    print(output.stdout, end="")
    if output.returncode:
        print(output.stderr[-3000:], file=sys.stderr)
        return output.returncode
    first = next(float(line.split()[-2]) for line in output.stdout.splitlines() if line.startswith("first screen"))
    print(f"(parent: process launch to first screen {first:.2f} s; whole bench {total:.1f} s)")
    return 0


def child(smoke: bool = False) -> int:
    os.environ.update({"KIVY_NO_ARGS": "1", "LIBGL_ALWAYS_SOFTWARE": "1", "KIVY_WINDOW": "sdl2",
                       "KIVY_HOME": tempfile.mkdtemp(prefix="kivy-")})
    from kiosk.ui.boot import hold_gc, tune_malloc

    tune_malloc()  # first, as `enrol kiosk` does
    hold_gc()
    import dataclasses

    from capture.finger.tenprint import TenPrintPolicy
    from hardware_sim.citizens import make_citizen
    from hardware_sim.scripted_citizen import ScriptedCitizen
    from kiosk.session import SessionPolicy
    from kiosk.ui.boot import prepare, release_gc
    from station.bringup import DEVELOPMENT_PINS, bring_up, with_scanner
    from station.config import parse_config
    from station.services import open_services

    data = Path(tempfile.mkdtemp(prefix="kiosk-bench-"))
    settings = {"station": {"id": "NA-BENCH-01", "simulated": True}, "paths": {"data_dir": str(data)}}
    config = parse_config(settings)
    with bring_up(config, simulate=True) as devices, registry(data, settings) as (url, listening):
        devices = with_scanner(devices, "nb1010")
        station = dataclasses.replace(devices.config, outbox=dataclasses.replace(devices.config.outbox,
                                                                                receiver_url=url))
        services = open_services(station, devices)
        prepare()
        from kivy.base import EventLoop

        from kiosk.ui.app import KioskApp

        order = TenPrintPolicy().order[:2] if smoke else TenPrintPolicy().order
        policy = SessionPolicy("NA-BENCH-01", operator_id="bench-officer", tenprint=TenPrintPolicy(order=order))
        app = KioskApp(services, policy, countdown_s=1.0)
        app.bind(on_start=lambda *_args: release_gc())  # as `enrol kiosk` does
        app._run_prepare()
        EventLoop.idle()
        print(f"first screen drawn after {time.monotonic() - LAUNCHED:.2f} s")
        listening()

        simulation = devices.simulation
        seed = 3
        citizen = make_citizen(seed)
        simulation.insert_card(seed)
        scripted = ScriptedCitizen(simulation, seed, scanner="nb1010")
        citizen_time = [0.0]

        def timed_citizen(event: object) -> None:
            begun = time.monotonic()
            scripted.on_event(event)
            citizen_time[0] += time.monotonic() - begun

        app.session.finger_listeners.append(timed_citizen)
        drive = Drive(app, EventLoop)

        # 2. memory with every device open, once the kiosk's own check of its devices (started with it, in a
        # worker) is over: the bench opening them meanwhile would make that check find them busy
        drive.until(lambda: not app.watch.checking, 60)
        print(f"resident memory, app up and camera + scanner + card reader open: "
              f"{rss_with_devices_open(services, devices, drive):.0f} MiB")

        # 3. preview rate while the face is analysed (countdown long enough that nothing is captured)
        app.countdown_s = 3600
        session = app.session
        session.start()
        session.unlock_officer(DEVELOPMENT_PINS["officer"])  # typing the ID in is the officer's action
        session.enter_manually(citizen.personal_id)
        for name, value in {"full_name": citizen.full_name, "date_of_birth": f"{citizen.birth_date:%d/%m/%Y}",
                            "sex": "Nam" if citizen.sex == "M" else "Nữ", "place_of_origin": "Nghệ An",
                            "place_of_residence": "Vinh, Nghệ An"}.items():
            session.set_value(name, value)
        session.confirm_personal_data()
        app.show_step()
        face = app.root.get_screen("face")
        analyses = [0]
        session_progress = face._show_progress

        def counting(progress: object) -> None:
            analyses[0] += 1
            session_progress(progress)

        face._show_progress = counting
        drive.until(lambda: face.frames_shown > 5, 30)
        shown, analysed, begun = face.frames_shown, analyses[0], time.monotonic()
        drive.pump(1.0 if smoke else 10.0)
        seconds = time.monotonic() - begun
        print(f"face screen: {(face.frames_shown - shown) / seconds:.1f} preview frames shown/s while "
              f"{(analyses[0] - analysed) / seconds:.1f} analyses/s (1280x720 MJPEG, 30 fps source)")
        face._show_progress = session_progress
        face = counting = session_progress = None  # the screen is dropped at the wipe: hold nothing of it here
        app.countdown_s = 1.0
        app.finish()
        drive.until(lambda: app.root.current == "welcome", 30)

        # 4. one scripted enrolment through touches
        begun = time.monotonic()
        drive.tap("start")
        pad = drive.screen().ids.pad
        for text, field in ((citizen.personal_id, None), (f"{citizen.birth_date:%d%m%Y}", "birth_date"),
                            (f"{citizen.expiry_date:%d%m%Y}", "expiry_date")):
            if field:
                drive.tap(field)
            for digit in text:
                drive.key(pad, digit)
        del pad  # the identify screen is dropped once the record is sealed: hold nothing of it here
        drive.tap("read")
        drive.until(lambda: app.root.current == "personal_data", 30)
        drive.tap("confirm")
        drive.until(lambda: drive.screen().mode == "captured", 60)
        drive.tap("accept")
        drive.until(lambda: app.session.fingers.complete, 120)
        drive.until(lambda: not drive.screen().ids.proceed.disabled, 10)
        drive.tap("proceed")
        drive.tap("confirm")
        drive.tap("confirm")
        for digit in DEVELOPMENT_PINS["officer"]:
            drive.key(drive.screen().ids.pad, digit)
        drive.tap("authorise")
        drive.until(lambda: app.root.current == "receipt", 60)
        total = time.monotonic() - begun
        station_time = total - citizen_time[0] - app.countdown_s - drive.paused
        fingers = f"{len(order)} finger{'s' * (len(order) != 1)}"
        print(f"scripted enrolment (card, data, photo, {fingers}, consent, receipt): {total:.1f} s; "
              f"without the simulated citizen ({citizen_time[0]:.1f} s), the photo countdown "
              f"({app.countdown_s:.1f} s) and the driver's pauses between touches ({drive.paused:.1f} s): "
              f"{station_time:.1f} s")

        # 5. memory after the enrolment, every device open again
        resident = rss_with_devices_open(services, devices, drive)
        rendered, camera = simulators_mib(simulation, seed, order)
        print(f"resident memory after the enrolment ({fingers}), camera + scanner + card reader open: "
              f"{resident:.0f} MiB, of which the simulators' {rendered + camera:.0f} MiB (the citizen's rendered "
              f"fingers {rendered:.0f}, the camera's photograph {camera:.0f}): the station's own "
              f"{resident - rendered - camera:.0f} MiB")
        print(f"peak resident memory of the whole run (VmHWM: mid-enrolment, the photo step's models and every "
              f"enrolment screen built): {status_mib('VmHWM'):.0f} MiB")
        app.stop()
        services.close()
    return 0


@contextlib.contextmanager
def registry(data: Path, settings: dict) -> Iterator[tuple[str, Callable[[], None]]]:
    """The registry's reference receiver (``enrol receiver serve``) in a process of its own, as the
    registry is another machine: its server, its checks and its store are not the station's memory.
    It uses the station's development PKI (made by ``bring_up``, under ``data``).  Yields its URL at
    once and a function that waits until it listens (called after the first-screen figure: the
    receiver's start would otherwise be counted in the station's)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = data / "station.toml"
    config.write_text("".join(f"[{table}]\n" + "".join(f"{key} = {json.dumps(value)}\n"  # JSON strings are TOML's
                                                        for key, value in values.items())
                              for table, values in settings.items()))
    enrol = Path(sys.executable).with_name("enrol")
    server = subprocess.Popen([str(enrol), "--config", str(config), "receiver", "serve", "--host", "127.0.0.1",
                               "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def listening() -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the receiver did not start: {server.stdout.read()[-2000:]}") from None
                time.sleep(0.1)

    try:
        yield f"https://127.0.0.1:{port}", listening
    finally:
        server.terminate()
        server.wait(10)


def simulators_mib(simulation: object, citizen_seed: int, positions: tuple) -> tuple[float, float]:
    """Memory (MiB) of the simulators in the station's process: the master prints of the fingers
    rendered for the citizen (cached: asking for them again costs nothing) and the camera's
    photograph.  The citizen's fingers and the camera's scene, not the station's."""
    from hardware_sim import fingerprints

    fingers = sum(fingerprints.master_print(citizen_seed, int(position)).ridges.nbytes for position in positions)
    return fingers / 2**20, simulation.camera.resident_bytes / 2**20  # type: ignore[attr-defined]


class Drive:
    """Touches on the app's widgets (as the UI tests do), with the time spent waiting between them
    (including the moment a new screen ignores touches, as a citizen would read it first)."""

    def __init__(self, app: object, loop: object) -> None:
        self.app, self.loop = app, loop
        self.paused = 0.0

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.loop.idle()  # type: ignore[attr-defined]
            time.sleep(0.005)

    def until(self, predicate: object, timeout: float) -> None:
        end = time.monotonic() + timeout
        while not predicate():  # type: ignore[operator]
            if time.monotonic() > end:
                screen = self.screen()
                message = getattr(screen.ids.get("message"), "text", "") or getattr(screen, "hint", "")
                raise TimeoutError(f"the kiosk did not get there: on {screen.name}, {message}")  # type: ignore[attr-defined]
            self.pump(0.02)

    def screen(self) -> object:
        return self.app.root.get_screen(self.app.root.current)  # type: ignore[attr-defined]

    def tap(self, widget: object) -> None:
        if isinstance(widget, str):
            widget = self.screen().ids[widget]  # type: ignore[attr-defined]
        x, y = widget.to_window(*widget.center)  # type: ignore[attr-defined]
        touch = touch_at(x, y)
        begun = time.monotonic()
        while not self.app.accepts_input():  # type: ignore[attr-defined]  # a screen just appeared: it ignores touches
            self.pump(0.02)
        self.loop.post_dispatch_input("begin", touch)  # type: ignore[attr-defined]
        self.pump(0.02)
        self.loop.post_dispatch_input("end", touch)  # type: ignore[attr-defined]
        self.pump(0.03)
        self.paused += time.monotonic() - begun

    def key(self, pad: object, text: str) -> None:
        for child in pad.walk(restrict=True):  # type: ignore[attr-defined]
            if getattr(child, "text", None) == text and hasattr(child, "on_release") and child is not pad:
                self.tap(child)
                return
        raise LookupError(text)


def touch_at(x: float, y: float) -> object:
    """A touch at window pixel (x, y), as Kivy's ``UnitTestTouch`` makes one; that class's module
    (kivy.tests.common) imports pytest and unittest, which would be counted in the kiosk's memory."""
    from kivy.base import EventLoop

    window = EventLoop.window
    touch = _touch_class()("bench", 1, {"x": x / (window.width - 1.0), "y": y / (window.height - 1.0)},
                           is_touch=True, type_id="touch")
    touch.profile = ["pos"]
    return touch


@functools.cache
def _touch_class() -> type:
    from kivy.input.motionevent import MotionEvent

    class Touch(MotionEvent):
        def depack(self, args: dict[str, float]) -> None:
            self.sx, self.sy = args["x"], args["y"]  # the position, as a fraction of the window
            super().depack(args)

    return Touch


def rss_with_devices_open(services: object, devices: object, drive: Drive) -> float:
    """VmRSS (MiB) with the camera streaming, the scanner and the card reader open, as during an enrolment."""
    from drivers.device import DeviceKind
    from drivers.smartcard.models import create_reader

    camera, scanner = services.camera(), services.scanner()  # type: ignore[attr-defined]
    reader_config = devices.config.devices[DeviceKind.CARD_READER]  # type: ignore[attr-defined]
    with camera, scanner, create_reader(reader_config.model, reader_config.settings,
                                        usb_backend=devices.usb_backend):  # type: ignore[attr-defined]
        camera.latest(timeout=5)
        drive.pump(1.0)
        return rss_mib()


def rss_mib() -> float:
    return status_mib("VmRSS")


def status_mib(field: str) -> float:
    """A memory figure of /proc/self/status (VmRSS, VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    sys.exit(main())
