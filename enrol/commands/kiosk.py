"""``enrol kiosk [--sim] [--fullscreen]``: the touchscreen enrolment kiosk.

With ``--sim`` the whole loop runs on this machine: the simulated station (a synthetic citizen's
chip card on the reader, a scripted citizen who puts the finger asked for on the scanner, a
camera that sees a well-posed face) and the reference receiver in a thread of this process on a
free port, with the development PKI, so the packets the kiosk seals are uploaded and receipted.

Without a display (no ``$DISPLAY`` / ``$WAYLAND_DISPLAY``) the command re-executes itself under
``xvfb-run`` when it is installed (the kiosk then runs invisibly, which is what CI and benches
want) and otherwise says how to run it, instead of letting the window system fail.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shutil
import sys
import threading
import time
from typing import Any

from enrol.commands import EXIT_DEVICE, EXIT_OK
from kiosk.i18n import _
from kiosk.session import SessionPolicy
from station.bringup import DEVELOPMENT_PINS, bring_up, with_scanner
from station.config import ConfigError, StationConfig

log = logging.getLogger(__name__)

XVFB_SCREEN = "-screen 0 1280x800x24"
_UNDER_XVFB = "ENROL_KIOSK_UNDER_XVFB"


def register(subcommands: argparse._SubParsersAction) -> None:
    kiosk = subcommands.add_parser("kiosk", help=_("run the touchscreen enrolment kiosk"))
    kiosk.add_argument("--sim", action="store_true",
                       help=_("simulated station with a demo citizen, and a local receiver for the packets"))
    kiosk.add_argument("--fullscreen", action="store_true", help=_("fill the screen (a real kiosk)"))
    kiosk.add_argument("--citizen", type=int, default=1, help=_("which synthetic citizen's card (with --sim)"))
    kiosk.add_argument("--scanner", choices=("nb1010", "r30x"), default="nb1010",
                       help=_("simulated fingerprint scanner (with --sim)"))
    kiosk.set_defaults(handler=_kiosk)


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("SDL_VIDEODRIVER") in ("offscreen", "dummy", "kmsdrm"))


def _kiosk(args: argparse.Namespace, config: StationConfig) -> int:
    if not has_display():
        return _without_display()
    from kiosk.ui.boot import hold_gc, tune_malloc

    tune_malloc()  # before any thread starts: see there
    hold_gc()  # until the app has started (_run)
    with bring_up(config, simulate=args.sim) as devices:
        if devices.simulation is None:
            return _run(config, devices, args, receiver_url=None)
        devices = with_scanner(devices, args.scanner)
        receiver = LocalReceiver(devices.config)
        try:
            url = receiver.start()
        except Exception as error:  # the kiosk still runs; packets wait in the outbox
            log.warning("the local receiver did not start (%s); packets stay in the outbox", error)
            url = None
        try:
            return _run(devices.config, devices, args, receiver_url=url)
        finally:
            receiver.stop()


def _without_display() -> int:
    xvfb = shutil.which("xvfb-run")
    if xvfb and not os.environ.get(_UNDER_XVFB):
        print(_("No display: running the kiosk under Xvfb (invisible)."), file=sys.stderr, flush=True)
        os.environ[_UNDER_XVFB] = "1"
        command = [xvfb, "-a", "-s", XVFB_SCREEN, sys.executable, "-c",
                   "import sys; from enrol.cli import main; sys.exit(main())", *sys.argv[1:]]
        os.execv(xvfb, command)
    print(_("No display to show the kiosk on. Run it on the kiosk's screen, or install Xvfb and run: "
            "xvfb-run -a -s \"{screen}\" enrol kiosk --sim").format(screen=XVFB_SCREEN), file=sys.stderr)
    return EXIT_DEVICE


def _run(config: StationConfig, devices: Any, args: argparse.Namespace, *, receiver_url: str | None) -> int:
    from station.services import open_services

    if receiver_url is not None:
        config = dataclasses.replace(config, outbox=dataclasses.replace(config.outbox, receiver_url=receiver_url))
    operator = config.kiosk.operator_id
    if not operator:
        raise ConfigError("[kiosk] operator_id must name the officer on duty (every record carries it)")
    services = open_services(config, devices)
    policy = SessionPolicy(config.station_id, operator_id=operator,
                           inactivity_warning_s=config.kiosk.inactivity_warning_s,
                           inactivity_wipe_s=config.kiosk.inactivity_wipe_s, tenprint=config.fingers)
    from kiosk.ui.boot import prepare, release_gc

    prepare(fullscreen=args.fullscreen)
    from kiosk.ui.app import KioskApp

    app = KioskApp(services, policy, language=config.kiosk.language, high_contrast=config.kiosk.high_contrast)
    app.bind(on_start=lambda *_args: release_gc())
    simulation = devices.simulation
    if simulation is not None:
        from hardware_sim.scripted_citizen import ScriptedCitizen

        citizen = simulation.insert_card(args.citizen)
        app.session.finger_listeners.append(ScriptedCitizen(simulation, args.citizen, scanner=args.scanner).on_event)
        app.sim_hint = _("Simulated station: the card on the reader has ID {id}, born {birth}, expiring {expiry}. "
                         "Development PINs: officer {officer}, technician {technician}.").format(
            id=citizen.personal_id, birth=f"{citizen.birth_date:%d/%m/%Y}", expiry=f"{citizen.expiry_date:%d/%m/%Y}",
            officer=DEVELOPMENT_PINS["officer"], technician=DEVELOPMENT_PINS["technician"])
        print(app.sim_hint, flush=True)
    try:
        app.run()
    finally:
        services.close()
    return EXIT_OK


class LocalReceiver:
    """The reference receiver (``enrol receiver serve``) in a thread of this process, on a free port."""

    def __init__(self, config: StationConfig) -> None:
        self.config = config
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 20.0) -> str:
        import socket

        import uvicorn

        from enrol.commands.receiver import receiver_settings
        from receiver.server import loaded_config

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        settings = dataclasses.replace(receiver_settings(self.config), host="127.0.0.1", port=port)
        self._server = uvicorn.Server(loaded_config(settings))
        self._thread = threading.Thread(target=self._server.run, name="local-receiver", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the local receiver did not start")
            time.sleep(0.02)
        url = f"https://127.0.0.1:{port}"
        print(_("Receiver listening on https://{host}:{port} (data in {path})").format(
            host="127.0.0.1", port=port, path=settings.data_dir), flush=True)
        return url

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
            self._server = None
