"""The simulated GB/T 28181 device, kept importable under its old name: the code is in tests/gb_peer/."""

from tests.gb_peer import DEVICE_TZ, Call, Channel, DummyRtp, PeerEndpoint, SimDevice, body, jpeg_picture

__all__ = ["DEVICE_TZ", "Call", "Channel", "DummyRtp", "PeerEndpoint", "SimDevice", "body", "jpeg_picture"]
