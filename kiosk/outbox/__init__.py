"""The outbox: sealed packets kept durably until the registry has signed a receipt for each.

``store`` (SQLite state + packet files), ``uploader`` (the HTTPS thread), ``sealing`` (record →
packet → sealed → queued), ``identity`` (the station's keys and certificates from the
configuration, or the development PKI), ``files`` (atomic writes).
"""
