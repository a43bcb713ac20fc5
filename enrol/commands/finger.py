"""``enrol capture-finger``: one fingerprint image to a PNG file, from a scanner or a USB recording.

For technicians: replaying a recording made in the field (``umockdev-record``) runs the very
driver code that failed there.  The PNG is plaintext biometric data, so this is meant for test
fingers and recordings, never for citizens; the kiosk itself never writes an image.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import TYPE_CHECKING

from drivers.device import DeviceKind
from drivers.errors import Cancelled, DeviceError
from drivers.fingerprint.base import FingerImage
from drivers.fingerprint.models import create_scanner
from enrol.arguments import existing_folder, output_file, seconds
from enrol.commands import EXIT_DEVICE, EXIT_OK, report_failure
from kiosk.i18n import _
from station.bringup import bring_up
from station.config import ConfigError, StationConfig

if TYPE_CHECKING:
    from hardware_sim.usb_replay import ReplayBackend


def register(subcommands: argparse._SubParsersAction) -> None:
    capture = subcommands.add_parser(
        "capture-finger",
        help=_("capture one fingerprint image to a PNG file (for test fingers and recorded field problems)"),
    )
    source = capture.add_mutually_exclusive_group()
    source.add_argument("--replay", type=_recording, metavar="DIR", help=_("replay a umockdev USB recording"))
    source.add_argument("--sim", action="store_true", help=_("use the simulated station with a synthetic finger"))
    capture.add_argument("--out", type=output_file(".png"), required=True, metavar="FILE.png",
                         help=_("where to write the image"))
    capture.add_argument("--timeout", type=seconds, default=30.0, help=_("seconds to wait for a finger"))
    capture.set_defaults(handler=_capture_finger)


def _capture_finger(args: argparse.Namespace, config: StationConfig) -> int:
    import cv2

    from hardware_sim.usb_replay import ReplayMismatch

    try:
        if args.replay:
            image = _capture_from_replay(args.replay, args.timeout)
        else:
            image = _capture_from_station(config, args.sim, args.timeout)
    except ReplayMismatch as error:
        print(_("The driver's traffic differs from the recording: {error}").format(error=error), file=sys.stderr)
        return EXIT_DEVICE
    except (DeviceError, Cancelled) as error:
        report_failure(_("Capture failed: {error}"), error)
        return EXIT_DEVICE
    if not cv2.imwrite(str(args.out), image.pixels):
        print(_("Cannot write {path}").format(path=args.out), file=sys.stderr)
        return EXIT_DEVICE
    height, width = image.pixels.shape
    print(_("{width}x{height} image at {ppi} ppi from {model} written to {path}").format(
        width=width, height=height, ppi=image.ppi, model=image.device.model, path=args.out))
    return EXIT_OK


def _recording(text: str) -> ReplayBackend:
    """``--replay``'s folder, loaded while the command line is read: a folder that is not a umockdev
    recording is the option's fault, said before any driver runs."""
    from hardware_sim.usb_replay import ReplayBackend

    folder = existing_folder(text)
    try:
        return ReplayBackend.from_directory(folder)
    except OSError as error:
        raise argparse.ArgumentTypeError(f"{error.filename}: {error.strerror}") from None
    except ValueError as error:  # no or several *.ioctl files, a line umockdev does not write
        raise argparse.ArgumentTypeError(_("not a umockdev recording: {error}").format(error=error)) from None


def _capture_from_replay(backend: ReplayBackend, timeout: float) -> FingerImage:
    """Run the NB-1010 driver against a recording: the traffic must match byte for byte."""
    from drivers.fingerprint import nb1010

    with nb1010.NB1010Scanner(nb1010.find(backend=backend)) as scanner:
        scanner.wait_for_finger(timeout)
        image = scanner.capture()
    backend.assert_finished()
    return image


def _capture_from_station(config: StationConfig, simulate: bool, timeout: float) -> FingerImage:

    with bring_up(config, simulate=simulate) as devices:
        device_config = devices.config.devices.get(DeviceKind.FINGERPRINT)
        if device_config is None:
            raise ConfigError(_("no fingerprint scanner is configured ([devices.fingerprint])"))
        if devices.simulation is not None:
            devices.simulation.present_finger(citizen_seed=1, position=2)
        scanner = create_scanner(device_config.model, device_config.settings, usb_backend=devices.usb_backend)
        with scanner:
            scanner.wait_for_finger(timeout, threading.Event())
            return scanner.capture()
