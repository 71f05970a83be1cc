"""The typed contract: every operation documents what it answers (no bare ``dict`` routes), the OpenAPI
document can be written by scripts/openapi.py (the frontend's types come from it), and real answers match
their response models, declared fields and all."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter

from app.api.main import create_app
from app.config import Settings
from tests.conftest import login

ROOT = Path(__file__).resolve().parents[2]
NO_BODY = {"204", "304"}


@pytest.fixture(scope="module")
def doc() -> dict:
    return create_app(Settings(demo_mode=True), "postgresql+asyncpg://contract@localhost/contract").openapi()


def _resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _typed(doc: dict, schema: dict | None) -> bool:
    """Says something about the answer: an object with properties or typed values, an array of such, a
    union of such, or a plain string/binary body. ``{}`` and ``{"type": "object"}`` (a bare dict) do not."""
    if not schema:
        return False
    schema = _resolve(doc, schema)
    if "anyOf" in schema or "oneOf" in schema:
        return all(_typed(doc, s) for s in schema.get("anyOf", schema.get("oneOf")) if s.get("type") != "null")
    kind = schema.get("type")
    if kind == "array":
        return _typed(doc, schema.get("items"))
    if kind == "object" or "properties" in schema:
        extra = schema.get("additionalProperties")
        return bool(schema.get("properties")) or (isinstance(extra, dict) and _typed(doc, extra))
    return kind in ("string", "integer", "number", "boolean")


def test_every_operation_documents_a_typed_answer(doc):
    untyped = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            success = {c: r for c, r in op["responses"].items() if c.startswith("2")}
            if not success:
                untyped.append(f"{method.upper()} {path}: no success answer")
            for code, r in success.items():
                if code in NO_BODY:
                    continue
                content = r.get("content") or {}
                if not content:
                    untyped.append(f"{method.upper()} {path} {code}: no content")
                for media, m in content.items():
                    if not _typed(doc, m.get("schema")):
                        untyped.append(f"{method.upper()} {path} {code} {media}: {m.get('schema')}")
    assert not untyped, "operations without a typed response (give them a response_model):\n" + "\n".join(untyped)


def test_the_check_catches_a_bare_dict(doc):
    assert not _typed(doc, {"type": "object", "additionalProperties": True, "title": "Response"})
    assert not _typed(doc, {"type": "array", "items": {"type": "object"}})
    assert not _typed(doc, {})
    assert _typed(doc, {"$ref": "#/components/schemas/Health"})


def test_operation_ids_are_stable_and_unique(doc):
    ids = [op.get("operationId") for ops in doc["paths"].values() for op in ops.values()]
    assert None not in ids and len(ids) == len(set(ids))
    # The generated client calls these by name.
    assert {"list_cameras", "get_camera", "create_incident", "list_incidents", "assign_units", "me", "login",
            "list_targets", "get_track", "kpi_summary", "planning_kpi", "callup"} <= set(ids)


def test_script_writes_the_document():
    out = subprocess.run([sys.executable, "scripts/openapi.py"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    written = json.loads(out)
    assert written["openapi"].startswith("3.") and "/api/v1/cameras" in written["paths"]
    assert "CameraFeature" in written["components"]["schemas"]


def _model(app, operation_id: str):
    route = next(r for r in app.routes if isinstance(r, APIRoute) and r.operation_id == operation_id)
    return route.response_model


def _declared_fields_present(model, value) -> list[str]:
    """Every declared field of the model (and its nested models) is in the JSON: the model describes
    what the service really sends, not only what it might."""
    missing: list[str] = []
    if isinstance(model, type) and issubclass(model, BaseModel) and isinstance(value, dict):
        for name, field in model.model_fields.items():
            if name not in value:
                missing.append(f"{model.__name__}.{name}")
                continue
            ann = field.annotation
            inner = getattr(ann, "__args__", ())
            for sub in (ann, *inner):
                if isinstance(sub, type) and issubclass(sub, BaseModel):
                    missing += _declared_fields_present(sub, value[name])
                elif getattr(sub, "__origin__", None) is list and value[name]:
                    item = sub.__args__[0]
                    for v in value[name][:3]:
                        missing += _declared_fields_present(item, v)
    elif getattr(model, "__origin__", None) is list and isinstance(value, list):
        for v in value[:3]:
            missing += _declared_fields_present(model.__args__[0], v)
    return missing


@pytest.mark.parametrize(("operation_id", "path", "user"), [
    ("health", "/api/v1/health", None),
    ("me", "/api/v1/auth/me", "admin"),
    ("list_cameras", "/api/v1/cameras?limit=5", "admin"),
    ("list_key_areas", "/api/v1/key-areas?limit=5", "admin"),
    ("list_divisions", "/api/v1/divisions?limit=3&geometry=false", "admin"),
    ("list_incidents", "/api/v1/incidents", "admin"),
    ("list_units", "/api/v1/units", "admin"),
    ("list_targets", "/api/v1/targets?limit=5", "admin"),
    ("list_users", "/api/v1/users", "admin"),
    ("kpi_summary", "/api/v1/kpi/summary", "admin"),
    ("tile_style", "/tiles/style.json", "admin"),
    ("incident_types", "/api/v1/incidents/types", "admin"),
    ("cameras_seeing", "/api/v1/callup/seeing?lon=24.9414&lat=60.1699", "admin"),
    ("list_audit", "/api/v1/audit?limit=5", "auditor"),
])
async def test_answers_match_their_models(api, operation_id, path, user):
    headers = await login(api, user) if user else {}
    r = await api.get(path, headers=headers)
    assert r.status_code == 200, r.text
    model = _model(api.app, operation_id)
    TypeAdapter(model).validate_python(r.json())
    assert not _declared_fields_present(model, r.json())
