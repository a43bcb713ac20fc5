"""``enrol``: the station's command line.

Subcommands:
  ``diag``            what is connected and whether each device passes its self-test
  ``capture-finger``  one fingerprint image to a PNG file, from a scanner or a USB recording

Exit status: 0 success; 1 a required device is missing or failing / the capture failed;
2 the configuration or the command line is wrong (``diag`` still prints what it found).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from pathlib import Path

from drivers.discovery import discover
from drivers.errors import Cancelled, DeviceError
from drivers.fingerprint.base import FingerImage
from drivers.fingerprint.models import SettingsError, create_scanner
from kiosk.config import ConfigError, StationConfig, load_config
from kiosk.diagnostics import DeviceReport, Status, diagnose
from kiosk.i18n import _, set_language
from kiosk.logs import setup_logging
from kiosk.station import bring_up

log = logging.getLogger(__name__)

EXIT_OK, EXIT_DEVICE, EXIT_USAGE = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``enrol`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    set_language(args.lang)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(_("Configuration error: {error}").format(error=error), file=sys.stderr)
        return EXIT_USAGE
    setup_logging(config, quiet=getattr(args, "json", False))
    try:
        return int(args.handler(args, config))
    except (ConfigError, SettingsError) as error:
        print(_("Configuration error: {error}").format(error=error), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="enrol", description=_("Identity-card enrolment station"))
    parser.add_argument("--config", type=Path, help=_("configuration file (TOML); none = simulated station"))
    parser.add_argument("--lang", choices=("vi", "en"), default="vi", help=_("language of messages"))
    commands = parser.add_subparsers(dest="command", required=True)

    diag = commands.add_parser("diag", help=_("list the connected devices and self-test each one"))
    diag.add_argument("--sim", action="store_true", help=_("start the simulated station and diagnose it"))
    diag.add_argument("--json", action="store_true", help=_("print JSON instead of a table"))
    diag.set_defaults(handler=_diag)

    capture = commands.add_parser(
        "capture-finger",
        help=_("capture one fingerprint image to a PNG file (for test fingers and recorded field problems)"),
    )
    source = capture.add_mutually_exclusive_group()
    source.add_argument("--replay", type=Path, metavar="DIR", help=_("replay a umockdev USB recording"))
    source.add_argument("--sim", action="store_true", help=_("use the simulated station with a synthetic finger"))
    capture.add_argument("--out", type=Path, required=True, metavar="FILE.png", help=_("where to write the image"))
    capture.add_argument("--timeout", type=float, default=30.0, help=_("seconds to wait for a finger"))
    capture.set_defaults(handler=_capture_finger)
    return parser


def _diag(args: argparse.Namespace, config: StationConfig) -> int:
    with bring_up(config, simulate=args.sim) as devices:
        found = discover(devices.usb_backends, devices.serial_ports)
        reports = diagnose(devices.config, found, usb_backend=devices.usb_backend)
        simulated = devices.config.simulated
    failing = [report for report in reports if report.blocks_station]
    if args.json:
        document = {
            "station": config.station_id,
            "simulated": simulated,
            "ok": not failing,
            "devices": [report.to_dict() for report in reports],
        }
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print(_format_table(reports, config.station_id, simulated))
        if failing:
            print()
            for report in failing:
                print(_("{kind} required but {status}: {problem}").format(
                    kind=report.kind, status=_(str(report.status)), problem=report.problem or "-"))
                if report.hint:
                    print("  " + _("Hint: {hint}").format(hint=report.hint))
        else:
            print(_("All required devices work."))
    if any(report.status is Status.MISCONFIGURED for report in reports):
        return EXIT_USAGE
    return EXIT_DEVICE if failing else EXIT_OK


def _format_table(reports: list[DeviceReport], station_id: str, simulated: bool) -> str:
    title = _("Station {station}").format(station=station_id)
    if simulated:
        title += " — " + _("SIMULATED devices")
    headers = [_("Kind"), _("Model"), _("Address"), _("USB id"), _("Required"), _("Status"), _("Details")]
    rows = []
    for report in reports:
        info = report.info
        usb_id = f"{info.vendor_id:04x}:{info.product_id:04x}" if info and info.vendor_id is not None else "-"
        details = report.problem or ", ".join(f"{name}: {value}" for name, value in report.checks.items())
        rows.append([
            str(report.kind), report.model, report.address or "-", usb_id,
            _("yes") if report.required else _("no"),
            ("✔ " if report.status is Status.OK else "✘ ") + _(str(report.status)), details or "-",
        ])
    if not rows:
        rows.append(["-", _("no devices found"), "-", "-", "-", "-", "-"])
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers) - 1)]
    lines = [title, ""]
    for row in [headers, *rows]:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
        if row is headers:
            lines.append("  ".join("-" * width for width in widths) + "  " + "-" * len(headers[-1]))
    return "\n".join(lines)


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
        print(_("Capture failed: {error}").format(error=error), file=sys.stderr)
        hint = getattr(error, "technician_hint", "")
        if hint:
            print("  " + _("Hint: {hint}").format(hint=hint), file=sys.stderr)
        return EXIT_DEVICE
    if not cv2.imwrite(str(args.out), image.pixels):
        print(_("Cannot write {path}").format(path=args.out), file=sys.stderr)
        return EXIT_DEVICE
    height, width = image.pixels.shape
    print(_("{width}x{height} image at {ppi} ppi from {model} written to {path}").format(
        width=width, height=height, ppi=image.ppi, model=image.device.model, path=args.out))
    return EXIT_OK


def _capture_from_replay(directory: Path, timeout: float) -> FingerImage:
    """Run the NB-1010 driver against a recording: the traffic must match byte for byte."""
    from drivers.fingerprint import nb1010
    from hardware_sim.usb_replay import ReplayBackend

    backend = ReplayBackend.from_directory(directory)
    with nb1010.NB1010Scanner(nb1010.find(backend=backend)) as scanner:
        scanner.wait_for_finger(timeout)
        image = scanner.capture()
    backend.assert_finished()
    return image


def _capture_from_station(config: StationConfig, simulate: bool, timeout: float) -> FingerImage:
    from drivers.device import DeviceKind

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
