"""Cameras: one interface (``base``), the OpenCV driver, and models chosen by name (``models``)."""
