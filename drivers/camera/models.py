"""Camera models chosen by name, the way ``drivers.fingerprint.models`` chooses scanners.

A configuration says ``model = "opencv"`` plus ``source`` (a V4L2 index, a device path or a URL)
and optional settings, among them the picture controls of :data:`CONTROLS` (as the camera's
driver numbers them); :func:`create_camera` turns checked settings into an unopened driver.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic.dataclasses import dataclass

from drivers.camera.base import Camera
from drivers.camera.opencv import CONTROLS, OpenCVCamera
from drivers.settings import STRICT, DeviceModel, make_driver

Seconds = Annotated[float, Field(gt=0, le=600)]


def _source(value: Any) -> int | str:
    """One sentence for the two shapes a source has (pydantic would report a union branch by branch)."""
    if (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 63) or \
            (isinstance(value, str) and value):
        return value
    raise ValueError(f"must be a V4L2 index 0-63, a device path or a URL, not {value!r}")


@dataclass(frozen=True, config=STRICT)
class OpenCVSettings:
    source: Annotated[Any, AfterValidator(_source)]
    """A V4L2 index, a device path (/dev/video0) or a stream URL."""
    width: Annotated[int, Field(ge=16, le=8192)] | None = None
    height: Annotated[int, Field(ge=16, le=8192)] | None = None
    fps: Annotated[float, Field(gt=0, le=240)] | None = None
    fourcc: Annotated[str, Field(min_length=4, max_length=4)] | None = None
    open_timeout: Seconds | None = None
    read_timeout: Seconds | None = None
    reconnect: bool | None = None
    reconnect_interval: Seconds | None = None
    # the picture controls (CONTROLS): values as the camera's V4L2 driver numbers them
    auto_exposure: float | None = None
    exposure: float | None = None
    auto_white_balance: float | None = None
    white_balance: float | None = None
    autofocus: float | None = None
    focus: float | None = None
    gain: float | None = None
    brightness: float | None = None


def _opencv(**settings: Any) -> Camera:
    controls = {key: float(settings.pop(key)) for key in list(settings) if key in CONTROLS}
    return OpenCVCamera(settings.pop("source"), controls=controls, **settings)


CAMERA_MODELS: dict[str, DeviceModel[Camera]] = {"opencv": DeviceModel(OpenCVSettings, _opencv)}


def create_camera(model: str, settings: Mapping[str, Any]) -> Camera:
    """An unopened camera driver for ``model`` with ``settings``."""
    return make_driver(CAMERA_MODELS, "camera", model, settings)
