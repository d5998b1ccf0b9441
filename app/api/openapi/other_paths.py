"""The endpoints beside the status API, as OpenAPI paths: the live event stream, the admin's view of
webhook deliveries, and the probes and metrics an operator's tools read."""

from __future__ import annotations

from app.api.openapi.building import (
    API_ERRORS,
    NULLABLE_INTEGER,
    NULLABLE_STRING,
    NULLABLE_TIMESTAMP,
    TIMESTAMP,
    UPLOAD_ID,
    Schema,
    _error,
    _json,
    _query,
    _ref,
)

DELIVERY_STATUS: Schema = {"type": "string", "enum": ["pending", "delivered", "failed"]}

NOTIFY_SCHEMAS: dict[str, Schema] = {
    "Delivery": {
        "type": "object",
        "required": ["id", "webhook_id", "event_id", "type", "asset_id", "endpoint", "status", "attempts"],
        "properties": {
            "id": {"type": "integer"},
            "webhook_id": {"type": "string", "description": "The `webhook-id` header: stable across retries"},
            "event_id": {"type": "integer", "description": "The event's id, as in the stream"},
            "type": {"type": "string", "examples": ["asset.ready"]},
            "asset_id": UPLOAD_ID,
            "endpoint": {"type": "string"},
            "status": DELIVERY_STATUS,
            "attempts": {"type": "integer"},
            "created_at": TIMESTAMP,
            "next_attempt_at": NULLABLE_TIMESTAMP,
            "last_status_code": NULLABLE_INTEGER,
            "last_error": NULLABLE_STRING,
            "delivered_at": NULLABLE_TIMESTAMP,
            "attempt_log": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "attempt": {"type": "integer"},
                        "at": TIMESTAMP,
                        "status_code": NULLABLE_INTEGER,
                        "error": NULLABLE_STRING,
                        "duration_ms": NULLABLE_INTEGER,
                    },
                },
            },
        },
    },
    "DeliveryPage": {
        "type": "object",
        "required": ["items", "next"],
        "properties": {"items": {"type": "array", "items": _ref("Delivery")}, "next": NULLABLE_STRING},
    },
    "Readiness": {
        "type": "object",
        "description": "Each part: `ok`, `in-process` (no broker to reach), or `failed: <reason>`",
        "additionalProperties": {"type": "string"},
        "examples": [{"database": "ok", "broker": "in-process", "disk": "ok"}],
    },
}


def _other_paths() -> Schema:
    admins_only = _error("Only an admin may do this")
    return {
        "/api/events": {
            "get": {
                "summary": "Server-Sent Events: every event of the assets the caller may see",
                "description": (
                    "`id:` is the event's id (send it back as `Last-Event-ID` to resume), `event:` its "
                    "name, `data:` JSON. Heartbeats every EVENT_STREAM_HEARTBEAT seconds."
                ),
                "parameters": [
                    _query("asset", UPLOAD_ID, "Only this asset's events"),
                    _query("last_event_id", {"type": "integer", "minimum": 0}, "Resume after this event"),
                ],
                "responses": {
                    "200": {
                        "description": "The stream",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    "404": _error("No such asset, or not yours"),
                    **API_ERRORS,
                },
            }
        },
        "/api/events/link": {
            "get": {
                "summary": "A signed URL of the event stream, for an EventSource (which sends no headers)",
                "parameters": [_query("asset", UPLOAD_ID, "Only this asset's events")],
                "responses": {
                    "200": _json(
                        {"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}},
                        "The link, good for SIGNED_URL_TTL seconds",
                    ),
                    "404": _error("No such asset, or not yours"),
                    **API_ERRORS,
                },
            }
        },
        "/api/webhooks/deliveries": {
            "get": {
                "summary": "Webhook deliveries and their attempts, newest first (admins)",
                "parameters": [
                    _query("status", DELIVERY_STATUS, "Only deliveries in this state"),
                    _query("asset", UPLOAD_ID, "Only this asset's deliveries"),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "Page size"),
                    _query("before", {"type": "integer", "minimum": 1}, "From `next`"),
                ],
                "responses": {"200": _json(_ref("DeliveryPage"), "A page"), "403": admins_only, **API_ERRORS},
            }
        },
        "/api/webhooks/deliveries/{delivery_id}/redeliver": {
            "parameters": [{"name": "delivery_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "post": {
                "summary": "Deliver again, under the same webhook id (admins)",
                "responses": {
                    "202": _json(_ref("Delivery"), "Queued for delivery"),
                    "403": admins_only,
                    "404": _error("No such delivery"),
                    "409": _error("An attempt is under way"),
                    **API_ERRORS,
                },
            },
        },
        "/": {
            "get": {
                "summary": "The web page: sign in with a token, upload, browse the library (no credentials)",
                "security": [],
                "responses": {
                    "200": {"description": "The page", "content": {"text/html": {"schema": {"type": "string"}}}}
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "Liveness: the process answers (no credentials)",
                "security": [],
                "responses": {
                    "200": _json(
                        {"type": "object", "properties": {"status": {"type": "string", "const": "alive"}}}, "Alive"
                    )
                },
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness: database, broker, free disk (no credentials)",
                "security": [],
                "responses": {
                    "200": _json(_ref("Readiness"), "Ready"),
                    "503": _json(_ref("Readiness"), "Not ready: the failing parts say why"),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (admins)",
                "responses": {
                    "200": {
                        "description": "The text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "403": admins_only,
                    **API_ERRORS,
                },
            }
        },
    }
