"""What every driver reports about itself: its identity and the outcome of its self-test."""

from __future__ import annotations

import abc
import enum
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Self


class DeviceKind(enum.StrEnum):
    """The kinds of device a station has."""

    FINGERPRINT = "fingerprint"
    CAMERA = "camera"
    CARD_READER = "card_reader"
    PRINTER = "printer"


@dataclass(frozen=True)
class DeviceInfo:
    """Identity of one connected device, as the driver learnt it from the device itself.

    ``address`` is the transport address a technician can find the device by: a serial port
    path, ``usb:BUS:ADDRESS``, or a URL.
    """

    kind: DeviceKind
    model: str
    address: str
    vendor: str = ""
    vendor_id: int | None = None
    product_id: int | None = None
    serial: str = ""
    firmware: str = ""

    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly form (USB ids as ``"298d"`` hex strings, the way lsusb prints them)."""
        data = asdict(self)
        data["kind"] = str(self.kind)
        for key in ("vendor_id", "product_id"):
            if data[key] is not None:
                data[key] = f"{data[key]:04x}"
        return data


@dataclass(frozen=True)
class SelfTestResult:
    """Outcome of a device's self-test: ``passed`` plus the individual checks that were run."""

    passed: bool
    checks: dict[str, str] = field(default_factory=dict)
    """check name -> what was found (e.g. ``"handshake": "ok"``, ``"image": "256x288, mean 183"``)."""
    problem: str = ""
    """Empty when passed; otherwise what failed, in words for the technician."""


class Device(abc.ABC):
    """What every driver is: opened and closed as a context manager, identified, self-testable.

    ``with Driver(...) as device: ...`` opens it (handshake included) and always closes it.
    """

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @abc.abstractmethod
    def open(self) -> None:
        """Connect to the device and do whatever handshake it needs."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device; safe to call twice and after a disconnect."""

    @abc.abstractmethod
    def info(self) -> DeviceInfo:
        """Identity of the connected device, as learnt from the device itself."""

    @abc.abstractmethod
    def self_test(self) -> SelfTestResult:
        """Exercise the device without a citizen (no finger, no card, no face) and say whether it works."""
