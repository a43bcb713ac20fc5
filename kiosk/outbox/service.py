"""The outbox as the station's configuration describes it: where it lives, its limits, its uploader."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from kiosk.config import StationConfig
from kiosk.outbox.identity import StationIdentity, load_identity
from kiosk.outbox.store import Outbox
from kiosk.outbox.uploader import Uploader, make_client


def outbox_dir(config: StationConfig) -> Path:
    return config.data_dir / "outbox"


def open_outbox(config: StationConfig) -> Outbox:
    return Outbox(outbox_dir(config), min_free_bytes=int(config.outbox.min_free_mb * 2**20),
                  retention=timedelta(days=config.outbox.retention_days))


def make_uploader(config: StationConfig, outbox: Outbox, identity: StationIdentity | None = None) -> Uploader:
    identity = identity or load_identity(config)
    client = make_client(config.outbox.receiver_url, identity.ssl_context())
    return Uploader(outbox, client, identity.receipt_trust, max_backoff_s=config.outbox.max_backoff_s)
