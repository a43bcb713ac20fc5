"""Camera models chosen by name, the way ``drivers.fingerprint.models`` chooses scanners.

A configuration says ``model = "opencv"`` plus ``source`` (a V4L2 index, a device path or a URL)
and optional settings; :func:`create_camera` turns that into an unopened driver and rejects
settings the model does not know, naming them.  Errors are the scanners' ``SettingsError`` so
that the CLI and the diagnosis report both kinds of device the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from drivers.camera.base import Camera
from drivers.camera.opencv import CONTROLS, OpenCVCamera
from drivers.settings import SettingsError, check_settings, model_factory

_OPENCV_SETTINGS = {"width", "height", "fps", "fourcc", "open_timeout", "read_timeout", "reconnect",
                    "reconnect_interval", *CONTROLS}


def _opencv(settings: Mapping[str, Any]) -> Camera:
    if "source" not in settings:
        raise SettingsError("camera 'opencv' needs the setting source (an index, a device path or a URL)")
    check_settings(settings, "camera 'opencv'", required={"source"}, optional=_OPENCV_SETTINGS)
    source = settings["source"]
    if not isinstance(source, int | str) or isinstance(source, bool):
        raise SettingsError(f"camera 'opencv': source must be an index, a device path or a URL, not {source!r}")
    options = {key: value for key, value in settings.items() if key != "source" and key not in CONTROLS}
    controls = {key: float(value) for key, value in settings.items() if key in CONTROLS}
    try:
        return OpenCVCamera(source, controls=controls, **options)
    except (TypeError, ValueError) as error:
        raise SettingsError(f"camera 'opencv': {error}") from error


#: model name -> factory(settings)
CAMERA_MODELS: dict[str, Callable[[Mapping[str, Any]], Camera]] = {"opencv": _opencv}


def create_camera(model: str, settings: Mapping[str, Any]) -> Camera:
    """An unopened camera driver for ``model`` with ``settings``."""
    return model_factory(CAMERA_MODELS, "camera", model)(settings)
