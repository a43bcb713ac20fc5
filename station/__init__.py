"""The station: the composition root and the services the kiosk and the ``enrol`` command use.

``config`` (the one TOML file, typed), ``bringup`` (real devices from the configuration, or the
simulated station), ``services`` (what the enrolment session and the screens ask of the station),
``diagnostics`` (device self-tests), ``identity`` (the station's keys and certificates), ``pin``
(officer and technician PINs), ``logs``, and ``outbox/`` (the durable queue and its uploader).
"""
