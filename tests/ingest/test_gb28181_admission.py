"""Who may register over GB/T 28181: the rule (pure), the digest with a stored HA1, and the credential cache
(one database look-up per device, dropped by an administrator's change)."""

from __future__ import annotations

import asyncio
import inspect

import pytest
from sqlalchemy import text

from app.db.engine import make_engine
from app.domain import gb_device
from app.domain.admission import PENDING, REJECTED, UNKNOWN, SipCredential, decide, sip_credential
from app.ingest.gb28181 import digest
from app.services.admission import GbCredentials

DEV = "34020000001320000001"


def test_digest_verifies_with_the_stored_ha1():
    # The test vector of the protocol notes (shared/protocols/GB28181.md §2.2).
    ha1 = gb_device.ha1(DEV, "3402000000", "12345678")
    assert ha1 == "8258341d7dd730ce4d3b8fd2db050320"
    params = {"username": DEV, "realm": "3402000000", "nonce": "9bd055e2a9bd8b1a6c4b3b1a9b8e7f60",
              "uri": "sip:34020000002000000001@3402000000"}
    assert digest.verify({**params, "response": "2662a8241acb18930c89df0581e79a48"}, None, "REGISTER", ha1=ha1)
    qop = {**params, "qop": "auth", "nc": "00000001", "cnonce": "0a4f113b",
           "response": "3dd1f436b7d07eda46cbcc1c9f481e51"}
    assert digest.verify(qop, None, "REGISTER", ha1=ha1)
    assert digest.verify(qop, "12345678", "REGISTER")  # the password still works where one is configured
    assert not digest.verify(qop, None, "REGISTER", ha1=gb_device.ha1(DEV, "3402000000", "other"))


@pytest.mark.parametrize(("registered", "mode", "listed", "open_", "expected"), [
    (DEV, "registered", None, False, SipCredential("own")),
    (DEV, "pending", "rejected", False, SipCredential("own")),  # admitted since: its row wins
    (None, "registered", None, False, SipCredential(None, UNKNOWN)),
    (None, "registered", None, True, SipCredential("platform", report=True)),  # demo mode
    (None, "pending", None, False, SipCredential("platform", PENDING, report=True)),
    (None, "registered", "pending", False, SipCredential("platform", PENDING, report=True)),
    (None, "pending", "rejected", True, SipCredential(None, REJECTED)),
])
def test_the_rule(registered, mode, listed, open_, expected):
    decision = decide("gb28181", DEV, registered=registered, mode=mode, listed=listed)
    assert sip_credential(decision, own_ha1="own", platform_ha1="platform", open_=open_) == expected


def test_pending_without_a_platform_password_is_refused_without_a_challenge():
    decision = decide("gb28181", DEV, registered=None, mode="pending", listed=None)
    assert sip_credential(decision, own_ha1=None, platform_ha1=None) == SipCredential(None, PENDING)


@pytest.mark.parametrize(("header", "edition"), [("3.0", "2022"), ("2.0", "2016"), (None, "2016"),
                                                 ("x", "2016"), (" 3.0 ", "2022")])
def test_edition(header, edition):
    assert gb_device.edition(header) == edition


def test_kind_from_the_type_code():
    assert [gb_device.kind_for(f"3402000000{t}0000001") for t in (132, 118, 111, 113, 138, 131)] == \
        ["ipc", "nvr", "dvr", "encoder", "mobile", "ipc"]


async def test_credentials_are_looked_up_once_then_cached_until_forgotten(db_url):
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO gb_device (gb_id, name, ha1) VALUES (:g, 'cam', :h)"),
                               {"g": DEV, "h": gb_device.ha1(DEV, "3402000000", "pw-12345")})
        creds = GbCredentials(engine, "3402000000", "platform-pw")
        first = creds(DEV)
        assert inspect.isawaitable(first)
        cred = await first
        assert cred == SipCredential(gb_device.ha1(DEV, "3402000000", "pw-12345"))
        assert creds(DEV) == cred  # a REGISTER refresh: no database round trip
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM gb_device WHERE gb_id = :g"), {"g": DEV})
        assert creds(DEV) == cred  # until the administrator's change is announced
        creds.forget(DEV)
        assert await creds(DEV) == SipCredential(None, UNKNOWN)
        assert creds(DEV) == SipCredential(None, UNKNOWN)  # refusals are cached too (briefly)
        creds.forget(DEV)
        # A look-up under way when the change is announced is not cached (it may have read before it).
        pending = asyncio.ensure_future(creds(DEV))
        await asyncio.sleep(0)  # it starts, and waits for the database
        creds.forget(DEV)
        await pending
        again = creds(DEV)
        assert inspect.isawaitable(again)
        await again
    finally:
        await engine.dispose()


async def test_lapsed_registrations_go_offline_in_their_rows(db_url):
    """Rows a stopped SIP server left online: offline since their registration ran out."""
    from app.db.engine import make_sessionmaker
    from app.services.gb28181_store import Gb28181Store

    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO gb_device (gb_id, name, ha1, online, status_since, expires_at) VALUES "
                "('34020000001320000081', 'lapsed', 'x', true, now() - interval '2 h', now() - interval '1 h'), "
                "('34020000001320000082', 'live', 'x', true, now() - interval '2 h', now() + interval '1 h')"))
        assert await Gb28181Store(make_sessionmaker(engine)).offline_lapsed() == 1
        async with engine.connect() as conn:
            rows = dict((await conn.execute(text(
                "SELECT name, online AND status_since <= now() - interval '59 min' FROM gb_device "
                "WHERE gb_id LIKE '3402000000132000008_'"))).all())
        assert rows == {"lapsed": False, "live": True}
    finally:
        await engine.dispose()
