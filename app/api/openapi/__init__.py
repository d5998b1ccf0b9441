"""``GET /api/openapi.json``: an OpenAPI 3.1 description of every endpoint, the tus ones included.

Written by hand, next to the code it describes; ``tests/integration/test_openapi.py`` runs
schemathesis against it and checks that every route of the app is in it, so a response the document
does not allow, or an endpoint it does not name, fails the build.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.api.openapi.api_paths import _api_paths
from app.api.openapi.building import Schema
from app.api.openapi.other_paths import NOTIFY_SCHEMAS, _other_paths
from app.api.openapi.schemas import SCHEMAS
from app.api.openapi.tus_paths import _tus_paths
from app.auth import identify
from config import Settings


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
        "paths": {**_tus_paths(settings.tus_base_path), **_api_paths(), **_other_paths()},
        "components": {
            "schemas": {**SCHEMAS, **NOTIFY_SCHEMAS},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def openapi_routes(settings: Settings) -> list[Route]:
    document = openapi_document(settings)

    async def serve(request: Request) -> Response:
        await identify(request)  # any user may read it; like every endpoint, not without credentials
        return JSONResponse(document)

    return [Route("/api/openapi.json", serve, methods=["GET"])]
