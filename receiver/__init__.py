"""The registry's reference receiver: verify, decrypt, store, answer with a signed receipt.

``intake`` (the checks and the receipt), ``store`` (files + SQLite index), ``app`` (the ASGI HTTP
API), ``server`` (uvicorn with TLS and client certificates), ``importer`` (packets carried on a
USB stick), ``config`` (its own TOML file).  It uses ``packet`` and ``crypto`` and nothing else of the
product: it is the other end of the wire.
"""
