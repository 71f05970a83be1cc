"""SIPp (Debian package ``sip-tester``) scenarios from tests/sipp/ against the real server."""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

import pytest

from app.ingest.gb28181 import Gb28181Server, Gb28181Settings

SIPP = shutil.which("sipp")
SCENARIOS = Path(__file__).resolve().parents[1] / "sipp"
DEVICE = "34020000001320000321"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
async def server():
    settings = Gb28181Settings(
        host="127.0.0.1", port=0, password="12345678", tcp=False, transaction_timeout_s=1
    )
    async with Gb28181Server(settings) as srv:
        yield srv


async def run_sipp(server: Gb28181Server, scenario: str, password: str) -> tuple[int, str]:
    assert SIPP, "sipp is required (apt install sip-tester)"
    proc = await asyncio.create_subprocess_exec(
        SIPP,
        f"127.0.0.1:{server.udp_port}",
        "-sf",
        str(SCENARIOS / scenario),
        "-s",
        DEVICE,
        "-au",
        DEVICE,
        "-ap",
        password,
        "-i",
        "127.0.0.1",
        "-p",
        str(free_udp_port()),
        "-m",
        "1",
        "-timeout",
        "15s",
        "-timeout_error",
        "-nostdin",
        "-max_recv_loops",
        "100",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode, out.decode(errors="replace")[-3000:]


@pytest.mark.parametrize(
    ("scenario", "password", "stat"),
    [
        ("register_auth.xml", "12345678", "registrations"),
        ("register_wrong_password.xml", "wrong", "auth_failed"),
        ("keepalive.xml", "12345678", "cmd_keepalive"),
    ],
)
async def test_sipp_scenario(server, scenario, password, stat):
    before = server.stats[stat]
    code, out = await run_sipp(server, scenario, password)
    assert code == 0, out
    assert server.stats[stat] > before
    if scenario == "keepalive.xml":
        assert server.registry.get(DEVICE).keepalives >= 2
