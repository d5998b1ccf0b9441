"""POST with a body: the creation-with-upload extension."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.servers import TUS, Server, stored_uploads, upload_state, wait_for_asset
from tests.storage_choice import stored_bytes

OCTETS = {"Content-Type": "application/offset+octet-stream"}


def test_post_with_body_stores_it_and_answers_upload_offset(shared_server: Server, http: httpx.Client) -> None:
    response = http.post(shared_server.files_url, headers={**TUS, **OCTETS, "Upload-Length": "10"}, content=b"01234")

    assert response.status_code == 201
    assert response.headers["Upload-Offset"] == "5"
    upload_id = response.headers["Location"].rsplit("/", 1)[1]
    assert stored_bytes(shared_server.data_dir, upload_id) == b"01234"
    assert http.head(response.headers["Location"], headers=TUS).headers["Upload-Offset"] == "5"


def test_post_with_whole_body_completes_the_upload(shared_server: Server, http: httpx.Client) -> None:
    response = http.post(shared_server.files_url, headers={**TUS, **OCTETS, "Upload-Length": "4"}, content=b"abcd")

    assert response.headers["Upload-Offset"] == "4"
    asset = wait_for_asset(http, shared_server, response.headers["Location"].rsplit("/", 1)[1])
    assert asset["status"] == "ready"
    assert asset["detected_type"] == "application/octet-stream"


def test_post_with_body_longer_than_upload_length_answers_413_and_creates_nothing(
    shared_server: Server, http: httpx.Client
) -> None:
    before = stored_uploads(http, shared_server)

    response = http.post(shared_server.files_url, headers={**TUS, **OCTETS, "Upload-Length": "3"}, content=b"abcd")

    assert response.status_code == 413
    assert stored_uploads(http, shared_server) == before


def _chunked() -> Iterator[bytes]:
    yield b"ab"
    yield b"cd"


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", None])
@pytest.mark.parametrize("body", [b"abcd", "chunked"], ids=["content-length", "chunked"])
def test_post_with_a_body_of_another_or_no_content_type_answers_415_and_creates_nothing(
    shared_server: Server, http: httpx.Client, content_type: str | None, body: bytes | str
) -> None:
    headers = {**TUS, "Upload-Length": "4", **({"Content-Type": content_type} if content_type else {})}
    before = stored_uploads(http, shared_server)

    response = http.post(shared_server.files_url, headers=headers, content=_chunked() if body == "chunked" else body)

    assert response.status_code == 415
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert "application/offset+octet-stream" in response.text
    assert "Location" not in response.headers
    assert stored_uploads(http, shared_server) == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/offset+octet-stream", None])
def test_post_without_body_bytes_is_created_whatever_its_content_type(
    shared_server: Server, http: httpx.Client, content_type: str | None
) -> None:
    headers = {**TUS, "Upload-Length": "4", **({"Content-Type": content_type} if content_type else {})}

    response = http.post(shared_server.files_url, headers=headers, content=b"")

    assert (response.status_code, response.headers["Upload-Offset"]) == (201, "0")
    assert upload_state(http, shared_server, response.headers["Location"])["bytes"] == b""


def test_post_of_empty_upload_with_empty_body_completes_it(shared_server: Server, http: httpx.Client) -> None:
    response = http.post(shared_server.files_url, headers={**TUS, **OCTETS, "Upload-Length": "0"}, content=b"")

    assert (response.status_code, response.headers["Upload-Offset"]) == (201, "0")
    asset = wait_for_asset(http, shared_server, response.headers["Location"].rsplit("/", 1)[1])
    assert (asset["status"], asset["details"]["size"]) == ("ready", 0)
