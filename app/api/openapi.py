"""OpenAPI post-processing: error responses are JSON on every route, including HTML and file routes."""

from __future__ import annotations

from fastapi import FastAPI

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


def install(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            for ops in schema.get("paths", {}).values():
                for op in ops.values():
                    for code, resp in op.get("responses", {}).items():
                        if code.isdigit() and int(code) >= 400 and "content" in resp and code != "422":
                            resp["content"] = {"application/json": {"schema": ERROR_REF}}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
