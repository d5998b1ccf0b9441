"""The JSON the status API takes and gives, as OpenAPI schemas."""

from __future__ import annotations

from app.api.openapi.building import (
    NULLABLE_INTEGER,
    NULLABLE_STRING,
    NULLABLE_TIMESTAMP,
    STATUS,
    TIMESTAMP,
    UPLOAD_ID,
    Schema,
    _query,
    _ref,
)
from app.vocabulary import AssetStatus

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
