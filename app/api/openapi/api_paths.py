"""The status API's endpoints, as OpenAPI paths."""

from __future__ import annotations

from app.api.openapi.building import API_ERRORS, PAGE_SIZE, Schema, _empty, _error, _json, _query, _ref
from app.api.openapi.schemas import FILTERS

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
