"""An ESC/POS thermal receipt printer (python-escpos) on a serial port or on USB.

The driver prints what it is given, a raster image and a QR code, and knows nothing of receipts:
what a receipt says, in which language, is the kiosk's (``kiosk.slip``).  Raster printing (GS v 0)
is the one graphics command every ESC/POS printer has, which is why the kiosk draws its text.

The self-test asks the printer's real-time status (DLE EOT n, ESC/POS command reference,
"Transmit real-time status": n = 1 printer status, bit 3 set = offline; n = 4 roll-paper sensor,
bits 5-6 set = paper end, bits 2-3 set = paper near end) without printing anything.
"""

from __future__ import annotations

import logging
import threading

from escpos.escpos import Escpos
from PIL import Image

from drivers.device import Device, DeviceInfo, DeviceKind, SelfTestResult
from drivers.errors import N_, DeviceDisconnected, DeviceError, DeviceNotFound, DeviceTimeout

log = logging.getLogger(__name__)

DEFAULT_BAUD = 9600
DLE_EOT = b"\x10\x04"


class PrinterError(DeviceError):
    """The printer refused the job or ran out of paper; the receipt is then shown on screen only."""

    citizen_message = N_("The receipt could not be printed. Please write down your enrolment number.")
    officer_hint = N_("Check the printer's paper and cover. The enrolment is saved either way.")
    technician_hint = "Check the printer's paper, cover and cable, then run `enrol diag`."


class EscPosPrinter(Device):
    """An ESC/POS printer: ``port`` (serial, with ``baudrate``) or ``vendor_id`` + ``product_id`` (USB).

    The QR code is printed as a raster image too (python-escpos's non-native QR), because the native
    QR command (GS ( k) is missing or differs on many low-cost printers.
    """

    def __init__(self, *, port: str = "", baudrate: int = DEFAULT_BAUD, vendor_id: int | None = None,
                 product_id: int | None = None, timeout: float = 2.0, width_dots: int = 384) -> None:
        # either ``port`` or both USB ids: drivers.printer.models.EscPosSettings checks the settings
        self._port = port
        self._baudrate = baudrate
        self._usb_ids = (vendor_id, product_id)
        self._timeout = timeout
        self.width_dots = width_dots
        """Printable width: 384 dots on a 58 mm printer at 203 dpi (48 mm), 576 on an 80 mm one."""
        self._printer: Escpos | None = None
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        if self._port:
            return self._port
        vendor, product = self._usb_ids
        return f"usb:{vendor:04x}:{product:04x}"

    def open(self) -> None:
        with self._lock:
            if self._printer is not None:
                return
            try:
                if self._port:
                    from escpos.printer import Serial

                    printer: Escpos = Serial(devfile=self._port, baudrate=self._baudrate, timeout=self._timeout,
                                             dsrdtr=False)
                else:
                    from escpos.printer import Usb

                    printer = Usb(*self._usb_ids, timeout=int(self._timeout * 1000))
                printer.open()  # type: ignore[attr-defined]
                # python-escpos centres images within the profile's width; the generic profile has none.
                printer.profile.profile_data["media"]["width"]["pixels"] = self.width_dots
            except Exception as error:  # python-escpos raises its own and the transports' exceptions
                raise DeviceNotFound(f"cannot open the printer: {error}", device=self.address,
                                     hint="Check the printer's cable and power and [devices.printer].") from error
            self._printer = printer

    def close(self) -> None:
        with self._lock:
            if self._printer is None:
                return
            try:
                self._printer.close()
            except Exception:  # closing a printer that has gone away must not hide what happened before
                log.debug("closing the printer %s failed", self.address, exc_info=True)
            self._printer = None

    def info(self) -> DeviceInfo:
        vendor, product = self._usb_ids
        return DeviceInfo(kind=DeviceKind.PRINTER, model="ESC/POS printer", address=self.address,
                          vendor_id=vendor, product_id=product)

    def self_test(self) -> SelfTestResult:
        """Ask whether the printer is online and has paper (nothing is printed)."""
        printer_status, paper_sensor = self._status(1), self._status(4)
        online = not printer_status & 0x08
        paper = "out" if paper_sensor & 0x60 else "near end" if paper_sensor & 0x0C else "ok"
        problem = ("the printer is offline (cover open or error)" if not online
                   else "the printer has no paper" if paper == "out" else "")
        return SelfTestResult(passed=not problem, checks={"online": "yes" if online else "no", "paper": paper},
                              problem=problem)

    def _status(self, n: int) -> int:
        """The one status byte that ``DLE EOT n`` returns.  Read here rather than with python-escpos's
        ``is_online``, which waits out the whole read timeout for 16 bytes that never come."""
        printer = self._require()
        try:
            printer._raw(DLE_EOT + bytes([n]))
            answer = printer.device.read(1) if self._port else printer._read()  # type: ignore[attr-defined]
        except Exception as error:
            raise DeviceDisconnected(f"the status request (DLE EOT {n}) failed: {error}",
                                     device=self.address) from error
        if not answer:
            raise DeviceTimeout(f"no answer to the status request (DLE EOT {n}) within {self._timeout:g} s",
                                device=self.address, hint="Check that the printer is on and that baudrate matches "
                                                          "the printer's setting.")
        return answer[0]

    def print_slip(self, image: Image.Image, qr_text: str) -> None:
        """Print ``image`` centred (raster), then ``qr_text`` as a QR code, then feed and cut."""
        printer = self._require()
        try:
            printer.image(image, center=True)
            printer.qr(qr_text, size=6, center=True)
            printer.text("\n\n")
            printer.cut()
        except Exception as error:
            raise PrinterError(f"the printer refused the job: {error}", device=self.address) from error

    def _require(self) -> Escpos:
        if self._printer is None:
            raise DeviceError("the printer is not open", device=self.address, hint="call open() first")
        return self._printer
