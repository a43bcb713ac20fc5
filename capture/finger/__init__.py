"""Fingerprint quality, segmentation and the ten-print capture session."""
