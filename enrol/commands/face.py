"""``enrol capture-face``: run the live portrait analysis until the auto-capture takes the portrait,
and write the ISO/IEC 19794-5 token image (JPEG) to a file.

For technicians setting up a camera and its lighting: the citizen guidance is printed whenever it
changes, then every check of the captured frame with its value and threshold.  The JPEG is
plaintext biometric data, so this is meant for test sitters and the simulator, never for citizens;
the kiosk itself never writes an image.
"""

from __future__ import annotations

import argparse
import sys

from capture.face.autocapture import NoPortrait, capture_portrait
from capture.face.checks import Analysis, FaceAnalyser
from drivers.camera.models import create_camera
from drivers.device import DeviceKind
from drivers.errors import Cancelled, DeviceError
from enrol.arguments import output_file, seconds
from enrol.commands import EXIT_DEVICE, EXIT_OK, report_failure
from kiosk.i18n import _
from station.bringup import bring_up
from station.config import ConfigError, StationConfig


def register(subcommands: argparse._SubParsersAction) -> None:
    capture = subcommands.add_parser(
        "capture-face", help=_("take a portrait with live guidance and auto-capture; write the token image (JPEG)"))
    capture.add_argument("--sim", action="store_true", help=_("use the simulated station's camera"))
    capture.add_argument("--scene", default="good",
                         help=_("simulated scene (with --sim): good, far, tilted, dark, two_faces, ..."))
    capture.add_argument("--out", type=output_file(".jpg", ".jpeg"), required=True, metavar="FILE.jpg",
                         help=_("where to write the token image"))
    capture.add_argument("--timeout", type=seconds, default=30.0, help=_("seconds to wait for a portrait"))
    capture.set_defaults(handler=_capture_face)


def _capture_face(args: argparse.Namespace, config: StationConfig) -> int:
    from hardware_sim.camera import SCENES

    if args.sim and args.scene not in SCENES:
        raise ConfigError(_("unknown scene {scene}; known: {known}").format(scene=args.scene, known=", ".join(SCENES)))
    shown = [""]

    def show(analysis: Analysis, guidance: str) -> None:
        if guidance != shown[0]:
            shown[0] = guidance
            print(f"[{analysis.sequence:5d}] {_(guidance)}")

    try:
        with bring_up(config, simulate=args.sim) as devices:
            device_config = devices.config.devices.get(DeviceKind.CAMERA)
            if device_config is None:
                raise ConfigError(_("no camera is configured ([devices.camera])"))
            if devices.simulation is not None:
                devices.simulation.camera.set_scene(args.scene)
            with create_camera(device_config.model, device_config.settings) as camera:
                sample = capture_portrait(camera, FaceAnalyser(config.face), timeout=args.timeout, on_analysis=show)
    except NoPortrait as error:
        guidance = _(error.guidance) if error.guidance else "-"  # _("") would be the catalogue's header
        print(_("No portrait: {error}. Last guidance: {guidance}").format(error=error, guidance=guidance),
              file=sys.stderr)
        return EXIT_DEVICE
    except (DeviceError, Cancelled) as error:
        report_failure(_("Capture failed: {error}"), error)
        return EXIT_DEVICE
    args.out.write_bytes(sample.token_jpeg)
    for check in sample.checks:
        verdict = {True: "✔", False: "✘", None: "?"}[check.passed]
        value = "-" if check.value is None else f"{check.value:.3g}"
        print(f"  {verdict} {check.name:24s} {value:>8s}  {check.threshold}")
    print(_("{width}x{height} token image, {size} bytes (JPEG quality {quality}) written to {path}").format(
        width=sample.width, height=sample.height, size=len(sample.token_jpeg), quality=sample.extra["jpeg_quality"],
        path=args.out))
    return EXIT_OK
