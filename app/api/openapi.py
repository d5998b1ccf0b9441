"""``GET /api/openapi.json``: an OpenAPI 3.1 description of every endpoint, the tus ones included.

Written by hand, next to the code it describes; ``tests/integration/test_openapi.py`` runs
schemathesis against it, so a response the document does not allow fails the build.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.auth import identify
from app.vocabulary import AssetStatus
from config import Settings

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

FILTERS: list[Schema] = [
    _query(
        "status",
        {"type": "array", "items": STATUS},
        "One or more statuses (repeat the parameter, or separate with commas)",
        explode=True,
    ),
    _query(
        "owner",
        {"type": "string", "maxLength": 200},
        "Only this owner's assets (admins; a user naming anyone else gets none)",
    ),
    _query(
        "type",
        {"type": "array", "items": {"type": "string", "examples": ["image/*", "video/mp4"]}},
        "Detected media types: exact, or `type/*`",
        explode=True,
    ),
    _query("created_after", {"type": "string", "format": "date-time"}, "Created at or after (ISO 8601)"),
    _query("created_before", {"type": "string", "format": "date-time"}, "Created before (ISO 8601)"),
    _query("q", {"type": "string", "maxLength": 200}, "Case-insensitive substring of the file name"),
    _query("filename", {"type": "string", "maxLength": 200}, "Same as `q`"),
    _query("error", {"type": "string", "maxLength": 200}, "Case-insensitive substring of the failure reason"),
]

ASSET: Schema = {
    "type": "object",
    "required": ["id", "status", "owner", "created_at", "url", "upload_url", "derivatives"],
    "properties": {
        "id": UPLOAD_ID,
        "status": STATUS,
        "error": {**NULLABLE_STRING, "description": "One line, when failed"},
        "filename": NULLABLE_STRING,
        "owner": {"type": "string"},
        "length": NULLABLE_INTEGER,
        "offset": {"type": "integer"},
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        "declared_type": NULLABLE_STRING,
        "detected_type": NULLABLE_STRING,
        "format": NULLABLE_STRING,
        "width": NULLABLE_INTEGER,
        "height": NULLABLE_INTEGER,
        "duration_seconds": {"type": ["number", "null"]},
        "details": {"type": "object"},
        "attempts": {"type": "integer"},
        "created_at": TIMESTAMP,
        "completed_at": NULLABLE_TIMESTAMP,
        "processed_at": NULLABLE_TIMESTAMP,
        "processing_time_ms": NULLABLE_INTEGER,
        "upload_url": {"type": "string"},
        "download_url": {"type": "string", "description": "A signed link, good for SIGNED_URL_TTL seconds"},
        "url": {"type": "string"},
        "derivatives": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}

TIMES: Schema = {
    "type": "object",
    "required": ["count", "p50", "p95", "p99"],
    "properties": {
        "count": {"type": "integer"},
        "p50": NULLABLE_INTEGER,
        "p95": NULLABLE_INTEGER,
        "p99": NULLABLE_INTEGER,
    },
}
COUNT_AND_BYTES: Schema = {
    "type": "object",
    "required": ["count", "bytes"],
    "properties": {"count": {"type": "integer"}, "bytes": {"type": "integer"}},
}

SCHEMAS: Schema = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "Asset": ASSET,
    "AssetWithEvents": {
        "allOf": [
            _ref("Asset"),
            {
                "type": "object",
                "required": ["events"],
                "properties": {
                    "events": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["at", "event"],
                            "properties": {"at": TIMESTAMP, "event": {"type": "string"}, "detail": NULLABLE_STRING},
                        },
                    }
                },
            },
        ]
    },
    "AssetPage": {
        "type": "object",
        "required": ["items", "next", "total"],
        "properties": {
            "items": {"type": "array", "items": _ref("Asset")},
            "next": {**NULLABLE_STRING, "description": "The next page's URL; null on the last page"},
            "total": {"type": "integer", "description": "How many assets match, on all pages"},
        },
    },
    "ActiveUpload": {
        "type": "object",
        "required": ["id", "owner", "offset", "length", "bytes_per_second", "last_activity", "created_at"],
        "properties": {
            "id": UPLOAD_ID,
            "owner": {"type": "string"},
            "filename": NULLABLE_STRING,
            "offset": {"type": "integer", "description": "Bytes stored now"},
            "length": {**NULLABLE_INTEGER, "description": "null while deferred"},
            "bytes_per_second": {"type": "number", "description": "Over the last minute"},
            "last_activity": {**TIMESTAMP, "description": "The last write"},
            "created_at": TIMESTAMP,
            "upload_url": {"type": "string"},
            "url": {"type": "string"},
        },
    },
    "ActiveUploads": {
        "type": "object",
        "required": ["items", "total", "window_seconds"],
        "properties": {
            "items": {"type": "array", "items": _ref("ActiveUpload")},
            "total": {"type": "integer"},
            "window_seconds": {"type": "number"},
        },
    },
    "Stats": {
        "type": "object",
        "required": ["scope", "by_status", "total", "by_owner", "queue", "processing_time_ms", "failures"],
        "properties": {
            "scope": {"type": "string", "enum": ["all", "own"]},
            "by_status": {
                "type": "object",
                "required": [str(status) for status in AssetStatus],
                "properties": {str(status): COUNT_AND_BYTES for status in AssetStatus},
            },
            "total": COUNT_AND_BYTES,
            "by_owner": {
                "type": ["array", "null"],
                "description": "Admins only; null for users",
                "items": {
                    "type": "object",
                    "required": ["owner", "count", "bytes"],
                    "properties": {
                        "owner": {"type": "string"},
                        "count": {"type": "integer"},
                        "bytes": {"type": "integer"},
                    },
                },
            },
            "queue": {
                "type": "object",
                "required": ["name", "depth", "delayed", "oldest_queued_at", "oldest_age_seconds"],
                "properties": {
                    "name": NULLABLE_STRING,
                    "depth": {**NULLABLE_INTEGER, "description": "From the broker; admins only, null when unknown"},
                    "delayed": NULLABLE_INTEGER,
                    "oldest_queued_at": NULLABLE_TIMESTAMP,
                    "oldest_age_seconds": {"type": ["number", "null"]},
                },
            },
            "processing_time_ms": {
                "type": "object",
                "required": ["last_hour", "last_day"],
                "properties": {"last_hour": TIMES, "last_day": TIMES},
            },
            "failures": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["reason", "count"],
                    "properties": {"reason": {"type": "string"}, "count": {"type": "integer"}},
                },
            },
        },
    },
    "Me": {
        "type": "object",
        "required": ["user", "is_admin", "usage", "quota"],
        "properties": {
            "user": {"type": "string"},
            "is_admin": {"type": "boolean"},
            "usage": {
                "type": "object",
                "required": ["bytes_stored", "bytes_reserved", "uploads", "unfinished_uploads"],
                "properties": {
                    "bytes_stored": {"type": "integer"},
                    "bytes_reserved": {"type": "integer"},
                    "uploads": {"type": "integer"},
                    "unfinished_uploads": {"type": "integer"},
                },
            },
            "quota": {
                "type": "object",
                "required": ["exempt", "bytes", "bytes_left", "unfinished_uploads"],
                "properties": {
                    "exempt": {"type": "boolean", "description": "Admins are exempt from quotas"},
                    "bytes": {**NULLABLE_INTEGER, "description": "USER_QUOTA_BYTES; null: none"},
                    "bytes_left": NULLABLE_INTEGER,
                    "unfinished_uploads": {**NULLABLE_INTEGER, "description": "USER_MAX_UNFINISHED; null: none"},
                },
            },
        },
    },
    "Reprocessed": {
        "type": "object",
        "required": ["queued", "ids"],
        "properties": {"queued": {"type": "integer"}, "ids": {"type": "array", "items": UPLOAD_ID}},
    },
    "ReprocessFilter": {
        "type": "object",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {
            "status": {"oneOf": [STATUS, {"type": "array", "items": STATUS}]},
            "owner": {"type": "string", "maxLength": 200},
            "type": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "created_after": {"type": "string", "format": "date-time"},
            "created_before": {"type": "string", "format": "date-time"},
            "q": {"type": "string", "maxLength": 200},
            "filename": {"type": "string", "maxLength": 200},
            "error": {"type": "string", "maxLength": 200},
            "ids": {"type": "array", "maxItems": 1000, "items": UPLOAD_ID},
        },
        "examples": [{"status": "failed", "error": "timed out"}],
    },
}

ASSET_ID_PARAMETER: Schema = {"name": "upload_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _api_paths() -> Schema:
    not_found = _error("No such asset, or not yours")
    admins_only = _error("Only an admin may do this")
    return {
        "/api/assets": {
            "get": {
                "summary": "List assets, newest first, filtered, in cursor pages",
                "parameters": [*FILTERS, PAGE_SIZE, _query("cursor", {"type": "string"}, "From `next`")],
                "responses": {"200": _json(_ref("AssetPage"), "A page of assets"), **API_ERRORS},
            }
        },
        "/api/assets/{upload_id}": {
            "parameters": [ASSET_ID_PARAMETER],
            "get": {
                "summary": "One asset and its history",
                "responses": {"200": _json(_ref("AssetWithEvents"), "The asset"), **API_ERRORS, "404": not_found},
            },
            "delete": {
                "summary": "Remove the asset: bytes, derivatives and row (the owner or an admin)",
                "responses": {
                    "204": _empty("Removed"),
                    **API_ERRORS,
                    "404": not_found,
                    "423": _error("Another request holds the upload for longer than LOCK_WAIT"),
                    "503": _error("The shared lock service (Redis) does not answer"),
                },
            },
        },
        "/api/assets/{upload_id}/derivatives/{name}": {
            "parameters": [
                ASSET_ID_PARAMETER,
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
            "get": {
                "summary": "A thumbnail or web version named in the asset's `derivatives`",
                "responses": {
                    "200": {
                        "description": "The image",
                        "content": {
                            "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                            "image/webp": {"schema": {"type": "string", "format": "binary"}},
                        },
                    },
                    **API_ERRORS,
                    "404": _error("No such asset or derivative"),
                },
            },
        },
        "/api/assets/{upload_id}/reprocess": {
            "parameters": [ASSET_ID_PARAMETER],
            "post": {
                "summary": "Queue a failed or ready asset for processing again (admins)",
                "responses": {
                    "202": _json(_ref("Reprocessed"), "Queued"),
                    **API_ERRORS,
                    "403": admins_only,
                    "404": not_found,
                    "409": _error("The asset is uploading, queued or processing"),
                },
            },
        },
        "/api/assets/reprocess": {
            "post": {
                "summary": "Queue every failed or ready asset matching a filter (admins; at most 10000 a request)",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("ReprocessFilter")}},
                },
                "responses": {
                    "202": _json(_ref("Reprocessed"), "How many were queued, and which"),
                    **API_ERRORS,
                    "403": admins_only,
                    "413": _error("A body of more than 64 KiB"),
                },
            }
        },
        "/api/uploads/active": {
            "get": {
                "summary": "Unfinished uploads: offset, length, bytes per second over the last minute, last write",
                "parameters": [
                    _query("owner", {"type": "string", "maxLength": 200}, "Only this owner's (admins)"),
                    PAGE_SIZE,
                ],
                "responses": {"200": _json(_ref("ActiveUploads"), "Most recently active first"), **API_ERRORS},
            }
        },
        "/api/stats": {
            "get": {
                "summary": "Counts and bytes per status (and owner, for admins), the queue, processing times, failures",
                "responses": {
                    "200": _json(_ref("Stats"), "Everyone's for admins, the user's own otherwise"),
                    **API_ERRORS,
                },
            }
        },
        "/api/me": {
            "get": {
                "summary": "Who is asking, whether an admin, their usage and quota",
                "responses": {"200": _json(_ref("Me"), "The caller"), **API_ERRORS},
            }
        },
        "/api/openapi.json": {
            "get": {
                "summary": "This document",
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }


TUS_RESUMABLE = _request_header(
    "Tus-Resumable", "The protocol version", required=True, schema={"type": "string", "enum": ["1.0.0"]}
)
TUS_REFUSALS: Schema = {
    "400": _text("A header that cannot be read; the body says which"),
    "401": _text("No credentials, or credentials that are not good"),
    "404": _text("No such upload, or not yours"),
    "412": _text("An unsupported Tus-Resumable", {"Tus-Version": _header("The versions served")}),
    "423": _text("Another request holds the upload for longer than LOCK_WAIT"),
    "503": _text("The shared lock service does not answer, or the server is stopping"),
}
TUS_HEADERS: Schema = {"Tus-Resumable": _header("1.0.0")}


def _tus_paths(base: str) -> Schema:
    collection = base
    resource = base + "{upload_id}"
    upload_id = {"name": "upload_id", "in": "path", "required": True, "schema": {"type": "string"}}
    offset_headers = {
        **TUS_HEADERS,
        "Upload-Offset": _header("Bytes stored"),
        "Upload-Expires": _header("RFC 9110 date"),
    }
    return {
        collection: {
            "options": {
                "summary": "tus capabilities (no credentials needed)",
                "security": [],
                "responses": {
                    "200": _empty(
                        "What the server supports",
                        {
                            "Tus-Version": _header("1.0.0"),
                            "Tus-Extension": _header("creation, creation-with-upload, ..."),
                            "Tus-Max-Size": _header("MAX_FILE_SIZE"),
                        },
                    ),
                },
            },
            "post": {
                "summary": "Create an upload (creation, creation-with-upload, creation-defer-length, concatenation)",
                "parameters": [
                    TUS_RESUMABLE,
                    _request_header("Upload-Length", "The upload's size in bytes (ASCII digits)"),
                    _request_header("Upload-Defer-Length", "1: the length comes later"),
                    _request_header("Upload-Metadata", "key base64,key2 base64 (filename, filetype)"),
                    _request_header("Upload-Concat", "partial, or final;<upload URLs>"),
                    _request_header("Upload-Checksum", "<algorithm> <base64 digest> of the body"),
                ],
                "requestBody": {
                    "required": False,
                    "content": {"application/offset+octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                },
                "responses": {
                    "201": _empty(
                        "Created",
                        {
                            **TUS_HEADERS,
                            "Location": _header("The upload's URL"),
                            "Upload-Offset": _header("Bytes stored"),
                        },
                    ),
                    **TUS_REFUSALS,
                    "403": _text("Refused by the pre-create hook, or a final upload of parts that are not yours"),
                    "409": _text("A final upload whose parts cannot be joined"),
                    "410": _text("A final upload with an expired part"),
                    "413": _text("Longer than MAX_FILE_SIZE, or past the user's storage quota"),
                    "415": _text("A body without Content-Type: application/offset+octet-stream"),
                    "429": _text("Too many unfinished uploads (USER_MAX_UNFINISHED)"),
                    "460": _text("The body does not match Upload-Checksum"),
                    "507": _text("The server's disk is full"),
                },
            },
        },
        resource: {
            "parameters": [upload_id],
            "head": {
                "summary": "The upload's offset (and length, metadata, expiry)",
                "parameters": [TUS_RESUMABLE],
                "responses": {
                    "200": _empty("Where it stands", offset_headers),
                    **TUS_REFUSALS,
                    "410": _empty("Expired"),
                },
            },
            "patch": {
                "summary": "Append bytes at Upload-Offset",
                "parameters": [
                    TUS_RESUMABLE,
                    _request_header("Upload-Offset", "Where the body goes (ASCII digits)", required=True),
                    _request_header("Upload-Checksum", "<algorithm> <base64 digest> of the body"),
                    _request_header("Upload-Length", "For a deferred upload"),
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/offset+octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                },
                "responses": {
                    "204": _empty("Stored", offset_headers),
                    **TUS_REFUSALS,
                    "403": _text("A final upload takes no appends"),
                    "409": _text("Upload-Offset does not match", {"Upload-Offset": _header("The upload's offset")}),
                    "410": _text("Expired"),
                    "413": _text("The body passes Upload-Length"),
                    "415": _text("Not Content-Type: application/offset+octet-stream"),
                    "460": _text("The body does not match Upload-Checksum"),
                    "507": _text("The server's disk is full"),
                },
            },
            "delete": {
                "summary": "Remove the upload: bytes, row and derivatives (termination)",
                "parameters": [TUS_RESUMABLE],
                "responses": {"204": _empty("Removed", TUS_HEADERS), **TUS_REFUSALS},
            },
            "get": {
                "summary": "Download the bytes of a finished upload (one Range allowed)",
                "parameters": [_request_header("Range", "bytes=first-last")],
                "responses": {
                    "200": {
                        "description": "The bytes",
                        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    "206": {
                        "description": "The range",
                        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    **{code: response for code, response in TUS_REFUSALS.items() if code != "412"},
                    "409": _text("Not finished yet, or a partial upload"),
                    "416": _text("Unsatisfiable range"),
                },
            },
        },
    }


def openapi_document(settings: Settings) -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tusmedia",
            "version": "0.1.0",
            "description": (
                "A tus 1.0 resumable upload server with a media pipeline, and its JSON status API. "
                "Every request carries `Authorization: Bearer <token>` (an opaque token or a JWT); "
                "the links the API hands out (downloads, derivatives) are signed and need none. "
                "Users see and act on their own uploads only; admins on everyone's. See docs/api.md."
            ),
        },
        "security": [{"bearer": []}],
        "paths": {**_tus_paths(settings.tus_base_path), **_api_paths()},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def openapi_routes(settings: Settings) -> list[Route]:
    document = openapi_document(settings)

    async def serve(request: Request) -> Response:
        await identify(request)  # any user may read it; like every endpoint, not without credentials
        return JSONResponse(document)

    return [Route("/api/openapi.json", serve, methods=["GET"])]
