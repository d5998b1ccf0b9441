"""The OpenAPI document at /api/openapi.json against the real server, by schemathesis: with an admin
token, no request it makes from the document gets a 5xx, a status, content type or body the document
does not allow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route

from app.main import create_app
from config import load_settings
from tests.access import CHECKED, bearer, make_jwt
from tests.servers import TESTDATA_MEDIA, TUS, Server, start_server

# tus bodies are plain bytes, sent as the binary string the document describes.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

EXAMPLES_PER_OPERATION = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("openapi") / "data", CHECKED)
    yield running
    running.stop()


def _seed(server: Server, headers: dict[str, str]) -> None:
    """A ready asset, a failed one and an unfinished one, so listings and stats have rows to show."""
    with httpx.Client(timeout=30) as client:
        for name in ("hopper.png", "truncated_jpeg.jpg"):
            data = (TESTDATA_MEDIA / name).read_bytes()
            response = client.post(
                server.files_url,
                content=data,
                headers={
                    **TUS,
                    **headers,
                    "Upload-Length": str(len(data)),
                    "Content-Type": "application/offset+octet-stream",
                },
            )
            assert response.status_code == 201, response.text
        assert client.post(server.files_url, headers={**TUS, **headers, "Upload-Length": "10"}).status_code == 201


# tus routes take every method, so that a 405 still carries Tus-Resumable; these are the real ones.
TUS_METHODS = {"/files/": {"options", "post"}, "/files/{upload_id}": {"options", "head", "patch", "delete", "get"}}


def _app_routes(data_dir: Path) -> set[tuple[str, str]]:
    """(path, method) of every route the application really has."""
    settings = load_settings(env_file=None, environ={"DATA_DIR": str(data_dir)})
    routes = set()
    for route in create_app(settings).routes:
        if not isinstance(route, Route) or "{rest:path}" in route.path or route.path == "/files":
            continue
        # Starlette answers HEAD on every GET route by itself.
        methods = TUS_METHODS.get(route.path) or {method.lower() for method in route.methods or ()} - {"head"}
        routes |= {(route.path, method) for method in methods}
    return routes


def test_the_document_is_openapi_3_1_and_names_every_route_and_method(api_server: Server, tmp_path: Path) -> None:
    anyone = bearer(make_jwt("alice"))
    document = httpx.get(f"{api_server.base_url}/api/openapi.json", headers=anyone).json()

    assert document["openapi"] == "3.1.0"
    documented = {(path, method) for path, operations in document["paths"].items() for method in operations}
    assert _app_routes(tmp_path / "data") - documented == set()
    assert httpx.get(f"{api_server.base_url}/api/openapi.json").status_code == 401


def test_no_response_breaks_the_document(api_server: Server, tmp_path: Path) -> None:
    admin = bearer(make_jwt("root", admin=True, expires_in=3600))
    _seed(api_server, bearer(make_jwt("alice", expires_in=3600)))
    schema = schemathesis.openapi.from_url(f"{api_server.base_url}/api/openapi.json", headers=admin)
    failures: list[str] = []
    # The event stream never ends by itself: test_event_stream.py tests it; its schema is still checked.
    operations = [result.ok() for result in schema.get_all_operations() if result.ok().path != "/api/events"]
    assert len(operations) >= 15

    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def exercise(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=api_server.base_url, headers=admin, checks=CHECKS, timeout=30)

        try:
            exercise()
        except Exception as failure:  # every operation runs; the assertion below lists what failed
            failures.append(f"{operation.label}: {failure}")

    assert not failures, "\n\n".join(failures)
    # The server logs every unexpected error of a request on this line (and answers 500).
    assert "unhandled error on" not in api_server.log()
