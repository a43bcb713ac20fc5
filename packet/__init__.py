"""The packet format: an enrolment record as a ZIP with ``manifest.json`` (``docs/packet-format.md``).

``build`` makes the ZIP from a record on the station; ``manifest`` reads one back and validates it
(JSON Schema, schema version, every file listed with its SHA-256 and nothing else) for the
receiver and for any tool that opens a packet.  Nothing here touches the disk.
"""
