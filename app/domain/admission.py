"""Device admission: which devices may report, one rule for every protocol.

Per protocol an administrator chooses the mode:

- ``registered``: only devices registered beforehand (a target: a unit's tracker, an accepted device)
  report; any other is refused.
- ``pending``: an unknown device is put on the pending list on first contact and refused (with that
  reason) until an administrator accepts it (then it is registered) or rejects it.

A pending device's fixes are refused, not stored: acknowledged means stored, and both JT/T 808 terminals
and Traccar Client keep what was not acknowledged and send it again once accepted. The refusal is the
protocol's own: JT/T 808 0x8100 result 4 / 0x8001 failure, HTTP 403 with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.errors import Forbidden, InvalidInput

PROTOCOLS = ("jt808", "osmand", "gb28181")
MODES = ("registered", "pending")
DEFAULT_MODE = "registered"


class DeviceRefused(Forbidden):
    """A device that may not report (yet); ``reason``: not_registered | pending | rejected."""

    code = "device_not_admitted"

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.message, field="id")
        self.reason = decision.reason


@dataclass(frozen=True, slots=True)
class Decision:
    admitted: bool
    reason: str  # registered | not_registered | pending | rejected
    message: str
    device_id: str | None = None  # the registered id, when it is written otherwise than the device sends it

    def raise_unless_admitted(self) -> None:
        if not self.admitted:
            raise DeviceRefused(self)


REGISTERED = Decision(True, "registered", "registered device")


def decide(protocol: str, device_id: str, *, registered: str | None, mode: str, listed: str | None) -> Decision:
    """The decision for a device: ``registered`` (the external id of its target, None: none), the protocol's
    ``mode``, and its status on the pending list (None: not on it; ``pending`` or ``rejected``)."""
    if registered is not None:
        return REGISTERED if registered == device_id else Decision(True, "registered", REGISTERED.message, registered)
    who = f"{protocol} device {device_id!r}"
    if listed == "rejected":
        return Decision(False, "rejected", f"{who} was rejected by an administrator")
    if listed == "pending" or mode == "pending":
        return Decision(False, "pending", f"{who} is waiting for an administrator's approval "
                                           "(/api/v1/admission/pending)")
    return Decision(False, "not_registered", f"{who} is not registered (register it with a unit, or let an "
                                             f"administrator admit {protocol} devices to the pending list)")


def check_mode(protocol: str, mode: str) -> None:
    if protocol not in PROTOCOLS:
        raise InvalidInput(f"unknown protocol; one of {', '.join(PROTOCOLS)}", field="protocol")
    if mode not in MODES:
        raise InvalidInput(f"unknown mode; one of {', '.join(MODES)}", field="mode")


# -- GB/T 28181: REGISTER is digest-authenticated, so a decision comes with the credential to check ----------

@dataclass(frozen=True, slots=True)
class SipCredential:
    """What the SIP registrar checks a REGISTER against, and what follows a valid digest."""

    ha1: str | None  # MD5(id:realm:password) the digest is checked with; None: refused without a challenge
    refusal: str = ""  # 403 reason phrase: at once (no ha1), or after a valid digest (waiting for approval)
    report: bool = False  # a valid digest is reported: lists the device as pending, or files it (open)


UNKNOWN = "Unknown Device"
PENDING = "Pending Approval"
REJECTED = "Rejected"


def sip_credential(decision: Decision, *, own_ha1: str | None, platform_ha1: str | None,
                   open_: bool = False) -> SipCredential:
    """An admitted device authenticates with its own password. An unknown one may use the platform-wide
    password (``SHARPEYES_GB_PASSWORD``) only to reach the pending list (mode ``pending``), or, with
    ``open_`` (demo mode), to be admitted as before there was a registry."""
    if decision.admitted:
        return SipCredential(own_ha1)
    if decision.reason == "rejected":
        return SipCredential(None, REJECTED)
    if decision.reason == "pending":
        return SipCredential(platform_ha1, PENDING, report=True) if platform_ha1 else SipCredential(None, PENDING)
    if open_ and platform_ha1:
        return SipCredential(platform_ha1, report=True)
    return SipCredential(None, UNKNOWN)
