"""``enrol diag``: what is connected and whether each device passes its self-test."""

from __future__ import annotations

import argparse
import json

from drivers.discovery import discover
from enrol.commands import EXIT_DEVICE, EXIT_OK, EXIT_USAGE
from kiosk.i18n import _
from station.bringup import bring_up
from station.config import StationConfig
from station.diagnostics import KIND_LABELS, STATUS_LABELS, DeviceReport, Status, diagnose


def register(subcommands: argparse._SubParsersAction) -> None:
    diag = subcommands.add_parser("diag", help=_("list the connected devices and self-test each one"))
    diag.add_argument("--sim", action="store_true", help=_("start the simulated station and diagnose it"))
    diag.add_argument("--json", action="store_true", help=_("print JSON instead of a table"))
    diag.set_defaults(handler=_diag, quiet=lambda args: args.json)


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
                    kind=_(KIND_LABELS[report.kind]), status=_(STATUS_LABELS[report.status]),
                    problem=report.problem or "-"))
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
            _(KIND_LABELS[report.kind]), report.model, report.address or "-", usb_id,
            _("yes") if report.required else _("no"),
            ("✔ " if report.status is Status.OK else "✘ ") + _(STATUS_LABELS[report.status]), details or "-",
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


