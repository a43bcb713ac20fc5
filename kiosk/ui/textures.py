"""Images the screens show, made into Kivy textures: one place that knows the buffer formats and
which way up a texture goes (Kivy's origin is bottom-left, an image's first row is its top)."""

from __future__ import annotations

import numpy as np
from kivy.graphics.texture import Texture


def image_texture(pixels: np.ndarray) -> Texture:
    """A texture of a grey (fingerprint) or BGR (camera) image, the right way up.

    The pixels are copied into the texture: the caller may zero its array afterwards (a wipe does)
    and nothing of it stays referenced here.
    """
    colorfmt = "luminance" if pixels.ndim == 2 else "bgr"
    height, width = pixels.shape[:2]
    texture = Texture.create(size=(width, height), colorfmt=colorfmt)
    texture.flip_vertical()
    texture.blit_buffer(np.ascontiguousarray(pixels).tobytes(), colorfmt=colorfmt, bufferfmt="ubyte")
    return texture
