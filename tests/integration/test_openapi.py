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


def test_the_document_is_openapi_3_1_and_names_every_route(api_server: Server) -> None:
    document = httpx.get(f"{api_server.base_url}/api/openapi.json").json()

    assert document["openapi"] == "3.1.0"
    expected = {
        "/files/",
        "/files/{upload_id}",
        "/api/assets",
        "/api/assets/{upload_id}",
        "/api/assets/{upload_id}/derivatives/{name}",
        "/api/assets/{upload_id}/reprocess",
        "/api/assets/reprocess",
        "/api/uploads/active",
        "/api/stats",
        "/api/me",
        "/api/openapi.json",
    }
    assert expected <= set(document["paths"])


def test_no_response_breaks_the_document(api_server: Server, tmp_path: Path) -> None:
    admin = bearer(make_jwt("root", admin=True, expires_in=3600))
    _seed(api_server, bearer(make_jwt("alice", expires_in=3600)))
    schema = schemathesis.openapi.from_url(f"{api_server.base_url}/api/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
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
