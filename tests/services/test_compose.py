"""docker-compose.yml (issue #19) checked against the code, so it cannot rot silently: the services and their
roles, the commands the CLI really accepts, settings the app really validates (a split role needs REDIS_URL),
health checks, start order, the ingest ports, and the proxy in front of the API replicas."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from app.cli import build_parser
from app.config import Settings
from app.ingest.gb28181 import Gb28181Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
# What an operator must set (the file refuses to start without them); everything else has a default.
REQUIRED = {"POSTGRES_PASSWORD": "pw", "SHARPEYES_SECRET_KEY": "k" * 40}
VAR = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::([-?])([^}]*))?\}")


def interpolate(value, env: dict[str, str]):
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` over ``env``, as ``docker compose`` does."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        name, op, arg = m.groups()
        if env.get(name):
            return env[name]
        if op == "?":
            raise KeyError(f"{name}: {arg}")
        return arg if op == "-" else ""

    return VAR.sub(sub, value)


@pytest.fixture(scope="module")
def compose() -> dict:
    return interpolate(yaml.safe_load(COMPOSE.read_text()), REQUIRED)


def services(compose: dict) -> dict:
    return compose["services"]


def command_args(svc: dict) -> list[str]:
    """``sharpeyes ...`` argv of a service (``sh -c "exec sharpeyes ..."`` unwrapped)."""
    cmd = svc["command"]
    if cmd[:2] == ["sh", "-c"]:
        cmd = cmd[2].removeprefix("exec ").split()
    assert cmd[0] == "sharpeyes", cmd
    return cmd[1:]


def settings_of(svc: dict, argv: list[str], monkeypatch) -> Settings:
    """The Settings the process would build from its environment (as ``app.cli.main`` does with --role)."""
    for key in list(os.environ):
        if key.startswith("SHARPEYES_") or key in ("DATABASE_URL", "REDIS_URL", "DATABASE_READ_URL"):
            monkeypatch.delenv(key)
    for key, value in svc["environment"].items():
        monkeypatch.setenv(key, str(value))
    args = build_parser().parse_args(argv)
    if getattr(args, "role", None):
        monkeypatch.setenv("SHARPEYES_ROLE", args.role)
    return Settings()


def test_a_value_the_operator_must_set_is_refused_when_missing():
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        interpolate(yaml.safe_load(COMPOSE.read_text()), {"SHARPEYES_SECRET_KEY": "k" * 40})


def test_the_services(compose):
    assert set(services(compose)) == {"db", "redis", "migrate", "api", "ingest", "proxy"}


@pytest.mark.parametrize("name, role", [("api", "api"), ("ingest", "ingest")])
def test_roles_run_as_the_cli_and_settings_accept(compose, name, role, monkeypatch):
    svc = services(compose)[name]
    argv = command_args(svc)
    args = build_parser().parse_args(argv)
    assert args.command == "serve" and args.role == role and args.workers >= 2
    s = settings_of(svc, argv, monkeypatch)
    assert s.role == role and s.redis_url == "redis://redis:6379/0"  # split roles meet on the bus
    assert s.database_url.endswith("@db:5432/sharpeyes") and s.host == "0.0.0.0" and s.port == 8000
    # Without REDIS_URL the same service would refuse to start: the check the file must keep passing.
    svc_no_redis = {**svc, "environment": {k: v for k, v in svc["environment"].items() if k != "REDIS_URL"}}
    with pytest.raises(ValueError, match="needs REDIS_URL"):
        settings_of(svc_no_redis, argv, monkeypatch)


def test_api_replicas_read_replica_and_proxy_trust(compose, monkeypatch):
    api, proxy = services(compose)["api"], services(compose)["proxy"]
    assert api["deploy"]["replicas"] >= 2 and "ports" not in api  # reached through the proxy only
    s = settings_of(api, command_args(api), monkeypatch)
    assert not s.database_read_url  # unset by default: one pool
    proxy_ip = proxy["networks"]["default"]["ipv4_address"]
    assert [str(n) for n in s.trusted_proxy_networks] == [f"{proxy_ip}/32"]  # the proxy, and only it
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(proxy_ip) in ipaddress.ip_network(subnet)


def test_ingest_publishes_its_listeners(compose, monkeypatch):
    ingest = services(compose)["ingest"]
    s = settings_of(ingest, command_args(ingest), monkeypatch)
    gb = Gb28181Settings()
    published = {(p.split(":")[1]) for p in ingest["ports"]}
    assert {f"{s.jt808_port}/tcp", f"{gb.port}/udp", f"{gb.port}/tcp"} <= published
    assert s.jt808_port == 6808 and gb.port == 5060
    # One container per host holds these ports; more processes come from --workers (SO_REUSEPORT).
    assert ingest["deploy"]["replicas"] == 1


def test_health_checks_and_start_order(compose):
    svcs = services(compose)
    for name in ("db", "redis", "api", "ingest", "proxy"):
        assert svcs[name]["healthcheck"]["test"], name
    for name in ("api", "ingest"):
        probe = " ".join(svcs[name]["healthcheck"]["test"])
        assert "/api/v1/health" in probe and f"p['role'] == '{name}'" in probe and "bus_connected" in probe
        deps = svcs[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["redis"]["condition"] == "service_healthy"
    assert "jt808_port" in " ".join(svcs["ingest"]["healthcheck"]["test"])
    migrate = svcs["migrate"]
    assert build_parser().parse_args(command_args(migrate)).action == "upgrade"
    assert migrate["restart"] == "no" and migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert svcs["proxy"]["depends_on"]["api"]["condition"] == "service_healthy"


def test_the_proxy_config(compose):
    proxy = services(compose)["proxy"]
    src, dest = proxy["volumes"][0].split(":")[:2]
    assert dest == "/etc/nginx/conf.d/default.conf"
    conf = (ROOT / src).read_text()
    assert "server api:8000 resolve;" in conf and "resolver 127.0.0.11" in conf  # every replica, as they change
    assert "proxy_set_header Upgrade $http_upgrade;" in conf  # websockets (/ws)
    assert "proxy_set_header Connection $connection_upgrade;" in conf and "location = /ws" in conf
    assert "$proxy_add_x_forwarded_for" in conf  # appended: the app walks it from the right
    body_limit = int(re.search(r"client_max_body_size (\d+)m;", conf)[1]) * 1024 * 1024
    assert body_limit > Settings(demo_mode=True).max_body_bytes  # the app answers 413 itself
    assert proxy["ports"] == ["8000:80"]


@pytest.mark.skipif(not (shutil.which("docker-compose") or shutil.which("docker")), reason="no docker CLI")
def test_docker_compose_config_accepts_the_file():
    """The compose implementation's own validation (``docker compose config`` or docker-compose v1)."""
    v1 = shutil.which("docker-compose")
    if not v1 and subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode != 0:
        pytest.skip("docker has no compose plugin here")  # the bare CLI parses `compose config -q` as its own flags
    cmd = ["docker-compose", "config", "-q"] if v1 else ["docker", "compose", "config", "-q"]
    r = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **REQUIRED}, capture_output=True, text=True, timeout=60)
    if r.returncode != 0 and "unknown command" in r.stderr:
        pytest.skip("docker has no compose plugin here")
    assert r.returncode == 0, r.stderr
