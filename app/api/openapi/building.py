"""The pieces the OpenAPI document is built from: shorthands for responses, parameters and headers,
and the schemas every part shares."""

from __future__ import annotations

from typing import Any

from app.vocabulary import AssetStatus

Schema = dict[str, Any]

NULLABLE_STRING: Schema = {"type": ["string", "null"]}
NULLABLE_INTEGER: Schema = {"type": ["integer", "null"]}
TIMESTAMP: Schema = {"type": "string", "description": "ISO 8601 UTC, e.g. 2026-11-25T01:04:25.820737Z"}
NULLABLE_TIMESTAMP: Schema = {**TIMESTAMP, "type": ["string", "null"]}
UPLOAD_ID: Schema = {"type": "string", "pattern": "^[A-Za-z0-9_-]{22}$"}
STATUS: Schema = {"type": "string", "enum": [str(status) for status in AssetStatus]}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> Schema:
    return _json(_ref("Error"), description)


def _text(description: str, headers: Schema | None = None) -> Schema:
    response: Schema = {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}
    if headers:
        response["headers"] = headers
    return response


def _empty(description: str, headers: Schema | None = None) -> Schema:
    response: Schema = {"description": description}
    if headers:
        response["headers"] = headers
    return response


def _header(description: str) -> Schema:
    return {"description": description, "schema": {"type": "string"}}


def _query(name: str, schema: Schema, description: str, *, explode: bool = False) -> Schema:
    parameter: Schema = {"name": name, "in": "query", "required": False, "schema": schema, "description": description}
    if explode:
        parameter.update(style="form", explode=True)
    return parameter


def _request_header(name: str, description: str, *, required: bool = False, schema: Schema | None = None) -> Schema:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "schema": schema or {"type": "string"},
        "description": description,
    }


API_ERRORS: Schema = {
    "400": _error("A parameter or body that cannot be read; `error` says which"),
    "401": _error("No credentials, or credentials that are not good"),
}

PAGE_SIZE = _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "Page size (default 50)")
