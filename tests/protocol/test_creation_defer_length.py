"""The creation-defer-length extension: the length arrives with a later PATCH."""

from __future__ import annotations

import httpx
import pytest

from tests.servers import TUS, Server, wait_for_asset

OCTETS = {"Content-Type": "application/offset+octet-stream"}
DEFER = {**TUS, "Upload-Defer-Length": "1"}


def _deferred(server: Server, http: httpx.Client) -> str:
    response = http.post(server.files_url, headers=DEFER)
    assert response.status_code == 201
    return response.headers["Location"]


def test_head_of_deferred_upload_reports_defer_length_and_no_length(shared_server: Server, http: httpx.Client) -> None:
    location = _deferred(shared_server, http)

    head = http.head(location, headers=TUS)

    assert head.headers["Upload-Defer-Length"] == "1"
    assert "Upload-Length" not in head.headers
    assert head.headers["Upload-Offset"] == "0"


def test_patch_with_upload_length_sets_it_and_completes_the_upload(shared_server: Server, http: httpx.Client) -> None:
    location = _deferred(shared_server, http)
    first = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"hello ")

    last = http.patch(
        location, headers={**TUS, **OCTETS, "Upload-Offset": "6", "Upload-Length": "11"}, content=b"world"
    )

    assert (first.status_code, last.status_code, last.headers["Upload-Offset"]) == (204, 204, "11")
    head = http.head(location, headers=TUS)
    assert (head.headers["Upload-Length"], "Upload-Defer-Length" in head.headers) == ("11", False)
    asset = wait_for_asset(http, shared_server, location.rsplit("/", 1)[1])
    assert (asset["status"], asset["length"]) == ("ready", 11)


def test_setting_the_length_twice_answers_400(shared_server: Server, http: httpx.Client) -> None:
    location = _deferred(shared_server, http)
    http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0", "Upload-Length": "10"}, content=b"ab")

    response = http.patch(
        location, headers={**TUS, **OCTETS, "Upload-Offset": "2", "Upload-Length": "10"}, content=b"cd"
    )

    assert response.status_code == 400
    assert http.head(location, headers=TUS).headers["Upload-Offset"] == "2"


def test_length_below_the_current_offset_answers_400(shared_server: Server, http: httpx.Client) -> None:
    location = _deferred(shared_server, http)
    http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"abcdef")

    response = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "6", "Upload-Length": "3"}, content=b"")

    assert response.status_code == 400
    head = http.head(location, headers=TUS)
    assert head.headers["Upload-Defer-Length"] == "1"


@pytest.mark.parametrize(
    "headers",
    [
        {"Upload-Defer-Length": "2"},
        {"Upload-Defer-Length": "yes"},
        {"Upload-Defer-Length": "1", "Upload-Length": "10"},
    ],
)
def test_invalid_defer_length_answers_400(shared_server: Server, http: httpx.Client, headers: dict[str, str]) -> None:
    assert http.post(shared_server.files_url, headers={**TUS, **headers}).status_code == 400


def test_deferred_upload_cannot_pass_the_maximum_size(server_with, http: httpx.Client) -> None:
    server = server_with(MAX_FILE_SIZE="10")
    location = _deferred(server, http)

    response = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"x" * 11)

    assert response.status_code == 413
    assert http.head(location, headers=TUS).headers["Upload-Offset"] == "0"
