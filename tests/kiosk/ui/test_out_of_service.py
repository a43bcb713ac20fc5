"""Required devices are enforced: while one fails the station is out of service (no citizen can
start; the officer's and technician's doors stay), and it opens again by itself once they work.  A
device that is not required does not block."""

from __future__ import annotations

import contextlib
import dataclasses

from drivers.device import DeviceKind
from kiosk.session import Step

from .steps import OFFICER_PIN, TECHNICIAN_PIN, enter_pin


@contextlib.contextmanager
def scanner_unplugged(simulation):
    """The fingerprint scanner (NB-1010, required on the simulated station) unplugged for the block."""
    simulation.nb1010.unplug()
    try:
        yield
    finally:
        simulation.nb1010.replug()


def _checked(kiosk) -> None:
    kiosk.app.watch.check()
    kiosk.until(lambda: not kiosk.app.watch.checking, 30, "the device check")


def _start_unreachable(app) -> None:
    """No Start anywhere on the window, and the welcome screen cannot be shown."""
    assert app.root.current == "out_of_service"
    assert app.root.get_screen("welcome").ids.start.get_root_window() is None
    assert "start" not in app.root.current_screen.ids
    app.go("welcome")
    assert app.root.current == "out_of_service" and app.session.step is Step.WELCOME


def test_a_required_device_missing_puts_the_station_out_of_service(kiosk, station):
    _services, simulation, _receiver = station
    app = kiosk.app
    with scanner_unplugged(simulation):
        _checked(kiosk)
        kiosk.until(lambda: app.root.current == "out_of_service", 5, "the out-of-service screen")
        _start_unreachable(app)
        screen = kiosk.screen()
        assert screen.ids.devices.text == "Không hoạt động: máy quét vân tay."
        kiosk.shots("out_of_service")
        app.set_language("en")
        kiosk.pump(0.1)
        assert screen.ids.title.text == "Out of service"
        assert screen.ids.devices.text == "Not working: fingerprint scanner."
        app.set_language("vi")

        kiosk.tap_id("officer")  # the officer's door, as on the welcome screen
        enter_pin(kiosk, OFFICER_PIN)
        kiosk.until(lambda: app.root.current == "officer", 5, "the officer screen")
        kiosk.tap_id("leave")
        assert app.root.current == "out_of_service"

        kiosk.tap_id("technician")
        enter_pin(kiosk, TECHNICIAN_PIN)
        kiosk.until(lambda: app.root.current == "technician", 5, "the technician screen")
        technician = kiosk.screen()
        kiosk.until(lambda: technician.reports, 30, "the self-tests")
        assert "không tìm thấy" in technician.ids.devices.text  # a device's "missing", not a finger's
        assert "không có ngón" not in technician.ids.devices.text
    kiosk.tap_id("leave")  # the scanner is back: checked on return from the technician's screen
    kiosk.until(lambda: app.root.current == "welcome", 30, "the welcome screen")
    assert app.watch.in_service


def test_the_station_opens_again_by_itself(kiosk, station):
    _services, simulation, _receiver = station
    app = kiosk.app
    app.watch.out_of_service_every_s = 0.5
    try:
        simulation.usb_backend.detach(simulation.card_reader)
        try:
            _checked(kiosk)
            assert [report.kind for report in app.watch.failing] == ["card_reader"]
            kiosk.until(lambda: app.root.current == "out_of_service", 5, "the out-of-service screen")
            _start_unreachable(app)
        finally:
            simulation.usb_backend.attach(simulation.card_reader)
        kiosk.until(lambda: app.root.current == "welcome", 30, "the welcome screen, with nobody touching")
    finally:
        app.watch.out_of_service_every_s = 10.0


def test_start_waits_for_the_check_in_flight(kiosk, station):
    """A citizen who touches Start while the devices are being checked does not start on a station
    that the check finds out of service."""
    _services, simulation, _receiver = station
    app = kiosk.app
    with scanner_unplugged(simulation):
        app.watch.check()  # about a second: the camera's self-test waits for frames
        kiosk.tap_id("start")
        assert app.watch.checking and app.session.step is Step.WELCOME
        kiosk.until(lambda: app.root.current == "out_of_service", 30, "the out-of-service screen")
        kiosk.pump(0.2)
        assert app.session.step is Step.WELCOME and app.root.current == "out_of_service"
    _checked(kiosk)
    assert app.root.current == "welcome"
    kiosk.tap_id("start")  # in service: Start starts
    kiosk.until(lambda: app.root.current == "identify", 5, "the identify screen")


def test_a_device_not_required_that_fails_does_not_block(kiosk, station, monkeypatch):
    services, simulation, _receiver = station
    app = kiosk.app
    config = services.devices.config
    fingerprint = dataclasses.replace(config.devices[DeviceKind.FINGERPRINT], required=False)
    optional = dataclasses.replace(config, devices={**config.devices, DeviceKind.FINGERPRINT: fingerprint})
    monkeypatch.setattr(services, "devices", dataclasses.replace(services.devices, config=optional))
    with scanner_unplugged(simulation):
        _checked(kiosk)
        assert app.watch.in_service and app.root.current == "welcome"
        kiosk.tap_id("start")
        kiosk.until(lambda: app.root.current == "identify", 5, "the identify screen")
