"""Fingerprint scanners: one interface, one module per scanner model."""
