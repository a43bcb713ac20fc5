"""Device drivers: one class per device model, typed errors, no policy.

Drivers accept their transport (a serial port path, a pyusb device found through any
backend) so that simulators and recordings can stand at the other end of the same wire.
"""
