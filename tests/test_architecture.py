"""The dependency rule, checked on the source: ``api``/``cli`` → runtime → services → db/domain/realtime;
protocol packages translate bytes and import no service; ``domain`` imports nothing of the project.

Every module under ``app/`` is imported (it must import on its own) and its ``import`` statements are read
with ``ast`` (imports inside functions and under ``TYPE_CHECKING`` count too: a loop hidden in a function
is still a loop). An exception that could not be removed yet is listed in ``KNOWN`` with its reason.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1] / "app"
PROTOCOLS = ("app.ingest.jt808", "app.ingest.gb28181", "app.ingest.osmand", "app.ingest.batch_json", "app.ingest.viid",
             "app.media")

# (importer, imported) pairs still breaking a rule, with why. Empty is the goal.
KNOWN: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(APP.rglob("*.py"))}


def imports(name: str, path: Path) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in MODULES)
    return {m for m in out if m == "app" or m.startswith("app.")}


def within(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def broken_rules(importer: str, imported: str) -> list[str]:
    rules = []
    if within(importer, "app.domain") and not within(imported, "app.domain"):
        rules.append("app.domain imports only app.domain")
    if within(importer, *PROTOCOLS) and within(imported, "app.services", "app.api", "app.runtime"):
        rules.append("protocol packages import no service, api or runtime")
    if within(imported, "app.api") and not within(importer, "app.api", "app.cli"):
        rules.append("only app.api and app.cli import app.api")
    if within(importer, "app.services") and within(imported, "app.runtime", "app.api"):
        rules.append("app.services imports neither app.runtime nor app.api")
    if within(importer, "app.runtime") and within(imported, "app.api", "app.cli"):
        rules.append("app.runtime imports neither app.api nor app.cli")
    return rules


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_imports(name, monkeypatch):
    # The ASGI entry builds its app from the environment at import (no connection is opened then).
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://localhost/unused")
    importlib.import_module(name)


def test_the_dependency_rule_holds():
    found = {}
    for name, path in MODULES.items():
        for imported in imports(name, path):
            for rule in broken_rules(name, imported):
                found[(name, imported)] = rule
    unexpected = {k: v for k, v in found.items() if k not in KNOWN}
    assert not unexpected, "\n".join(f"{a} -> {b}: {rule}" for (a, b), rule in sorted(unexpected.items()))
    stale = set(KNOWN) - set(found)
    assert not stale, f"exceptions no longer needed (remove them from KNOWN): {sorted(stale)}"


def test_the_rule_checker_sees_imports_in_functions():
    tree = imports("app.ingest.gb28181.alarms", MODULES["app.ingest.gb28181.alarms"])
    assert "app.domain.events" in tree and not any(within(m, "app.services") for m in tree)
    assert broken_rules("app.ingest.jt808.server", "app.services.admission")
    assert broken_rules("app.domain.fix", "app.db.models")
    assert not broken_rules("app.runtime", "app.services.kpi")
