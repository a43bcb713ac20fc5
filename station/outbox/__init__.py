"""The outbox: sealed packets kept durably until the registry has signed a receipt for each.

``store`` (SQLite state + packet files), ``uploader`` (the HTTPS thread), ``sealing`` (record →
packet → sealed → queued), ``receipts`` (receipts carried back on a USB stick).
"""
