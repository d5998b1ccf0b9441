"""Tus-Resumable: every request but OPTIONS must carry the supported version (tus 1.0.0, core protocol)."""

from __future__ import annotations

import httpx
import pytest

from tests.servers import TUS, Server, create_upload


@pytest.mark.parametrize("version", [None, "0.2.2", "2.0.0", ""])
@pytest.mark.parametrize("method", ["POST", "HEAD", "PATCH", "DELETE"])
def test_request_without_supported_tus_resumable_answers_412_with_tus_version(
    shared_server: Server, http: httpx.Client, method: str, version: str | None
) -> None:
    upload_url = create_upload(http, shared_server, 10)
    headers = {"Upload-Length": "10", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    if version is not None:
        headers["Tus-Resumable"] = version
    url = shared_server.files_url if method == "POST" else upload_url

    response = http.request(method, url, headers=headers, content=b"x" if method == "PATCH" else None)

    assert response.status_code == 412
    assert response.headers["Tus-Version"] == "1.0.0"
    assert response.headers["Tus-Resumable"] == "1.0.0"
    # The refused request changed nothing.
    assert http.head(upload_url, headers=TUS).headers["Upload-Offset"] == "0"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("GET", "", "OPTIONS, POST"), ("PUT", "", "OPTIONS, POST"), ("PUT", "AAAAAAAAAAAAAAAAAAAAAA", None)],
)
def test_unsupported_method_answers_405_with_tus_resumable(
    shared_server: Server, http: httpx.Client, method: str, path: str, allowed: str | None
) -> None:
    response = http.request(method, shared_server.files_url + path, headers=TUS)

    assert response.status_code == 405
    assert response.headers["Tus-Resumable"] == "1.0.0"
    if allowed:
        assert response.headers["Allow"] == allowed
