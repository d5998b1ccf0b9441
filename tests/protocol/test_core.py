"""Core protocol (tus 1.0.0 section "Core Protocol"): OPTIONS, Tus-Resumable, HEAD, PATCH."""

from __future__ import annotations

import hashlib
import time

import httpx
import pytest

from tests.servers import TUS, Server, create_upload, upload_state, wait_for_asset
from tests.storage_choice import stored_bytes

OCTETS = {"Content-Type": "application/offset+octet-stream"}


@pytest.mark.parametrize("path", ["/files/", "/files"])
def test_options_answers_200_with_version_extensions_and_max_size_without_tus_resumable(
    shared_server: Server, http: httpx.Client, path: str
) -> None:
    response = http.options(shared_server.base_url + path)

    assert response.status_code == 200
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.headers["Tus-Version"] == "1.0.0"
    assert set(response.headers["Tus-Extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "creation-defer-length",
        "termination",
        "concatenation",
        "concatenation-unfinished",
        "checksum",
        "expiration",
    }
    assert response.headers["Tus-Max-Size"] == str(500 * 1024 * 1024)
    assert set(response.headers["Tus-Checksum-Algorithm"].split(",")) >= {"sha1", "sha256", "md5", "crc32"}


def test_options_on_an_upload_url_also_answers(shared_server: Server, http: httpx.Client) -> None:
    response = http.options(shared_server.files_url + "AAAAAAAAAAAAAAAAAAAAAA")

    assert response.status_code == 200
    assert response.headers["Tus-Version"] == "1.0.0"


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


def test_head_reports_offset_length_and_forbids_caching(shared_server: Server, http: httpx.Client) -> None:
    location = create_upload(http, shared_server, 10)
    http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"abc")

    response = http.head(location, headers=TUS)

    assert response.status_code == 200
    assert response.headers["Upload-Offset"] == "3"
    assert response.headers["Upload-Length"] == "10"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert "Upload-Metadata" not in response.headers


@pytest.mark.parametrize(
    "upload_id",
    [
        "AAAAAAAAAAAAAAAAAAAAAA",
        "short",
        "%2e%2e%2fetc%2fpasswd",
        "..%2f..%2fetc%2fpasswd",
        "AAAAAAAAAAAAAAAAAAAAAA.info",
    ],
)
def test_head_of_unknown_or_invalid_id_answers_404(shared_server: Server, http: httpx.Client, upload_id: str) -> None:
    response = http.head(shared_server.files_url + upload_id, headers=TUS)

    assert response.status_code == 404
    assert response.headers["Tus-Resumable"] == "1.0.0"


def _stored(server: Server, location: str) -> bytes:
    return stored_bytes(server.data_dir, location.rsplit("/", 1)[1])


def test_patch_appends_and_answers_204_with_new_offset(shared_server: Server, http: httpx.Client) -> None:
    location = create_upload(http, shared_server, 6)

    first = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"abc")
    second = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "3"}, content=b"def")

    assert (first.status_code, first.headers["Upload-Offset"]) == (204, "3")
    assert (second.status_code, second.headers["Upload-Offset"]) == (204, "6")
    assert second.headers["Tus-Resumable"] == "1.0.0"
    assert _stored(shared_server, location) == b"abcdef"


def test_patch_of_last_byte_queues_the_asset_and_it_gets_processed(shared_server: Server, http: httpx.Client) -> None:
    location = create_upload(http, shared_server, 3)
    upload_id = location.rsplit("/", 1)[1]
    assert http.get(f"{shared_server.base_url}/api/assets/{upload_id}").json()["status"] == "uploading"

    http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"xyz")

    asset = wait_for_asset(http, shared_server, upload_id)
    assert asset["status"] == "ready"
    assert asset["offset"] == 3
    assert asset["processing_time_ms"] is not None


def test_patch_records_the_offset_in_the_database(shared_server: Server, http: httpx.Client) -> None:
    location = create_upload(http, shared_server, 10)

    http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"1234")

    asset = http.get(f"{shared_server.base_url}/api/assets/{location.rsplit('/', 1)[1]}").json()
    assert (asset["status"], asset["offset"]) == ("uploading", 4)


@pytest.mark.parametrize("content_type", [None, "application/octet-stream", "text/plain", "multipart/form-data"])
def test_patch_without_offset_octet_stream_content_type_answers_415(
    shared_server: Server, http: httpx.Client, content_type: str | None
) -> None:
    location = create_upload(http, shared_server, 5)
    headers = {**TUS, "Upload-Offset": "0"}
    if content_type:
        headers["Content-Type"] = content_type

    response = http.patch(location, headers=headers, content=b"abc")

    assert response.status_code == 415
    assert _stored(shared_server, location) == b""


@pytest.mark.parametrize("client_offset", ["0", "1", "3", "10"])
def test_patch_at_wrong_offset_answers_409_and_keeps_bytes(
    shared_server: Server, http: httpx.Client, client_offset: str
) -> None:
    location = create_upload(http, shared_server, 10)
    http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"ab")
    before = upload_state(http, shared_server, location)

    response = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": client_offset}, content=b"zz")

    assert response.status_code == 409
    # Where the upload stands, so the client resumes without another HEAD.
    assert (response.headers["Upload-Offset"], response.headers["Tus-Resumable"]) == ("2", "1.0.0")
    assert upload_state(http, shared_server, location) == before
    assert before["bytes"] == b"ab"


def test_client_resumes_from_the_offset_a_409_names(shared_server: Server, http: httpx.Client) -> None:
    location = create_upload(http, shared_server, 6)
    http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"abc")

    refused = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"abcdef")
    resumed_at = int(refused.headers["Upload-Offset"])
    response = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": str(resumed_at)}, content=b"def")

    assert (refused.status_code, response.status_code, response.headers["Upload-Offset"]) == (409, 204, "6")
    assert _stored(shared_server, location) == b"abcdef"


@pytest.mark.parametrize("client_offset", [None, "-1", "abc", "1.0", ""])
def test_patch_with_missing_or_invalid_offset_answers_400(
    shared_server: Server, http: httpx.Client, client_offset: str | None
) -> None:
    location = create_upload(http, shared_server, 5)
    headers = {**TUS, **OCTETS}
    if client_offset is not None:
        headers["Upload-Offset"] = client_offset

    response = http.patch(location, headers=headers, content=b"abc")

    assert response.status_code == 400
    assert "Upload-Offset" in response.text
    assert _stored(shared_server, location) == b""


def test_patch_with_body_past_upload_length_answers_413_and_stores_nothing(
    shared_server: Server, http: httpx.Client
) -> None:
    location = create_upload(http, shared_server, 5)
    http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"ab")

    response = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "2"}, content=b"cdefg")

    assert response.status_code == 413
    assert _stored(shared_server, location) == b"ab"
    assert http.head(location, headers=TUS).headers["Upload-Offset"] == "2"


def test_chunked_patch_body_past_upload_length_answers_413_and_stores_nothing(
    shared_server: Server, http: httpx.Client
) -> None:
    # Without Content-Length the overflow is found while streaming; what was written is cut back.
    location = create_upload(http, shared_server, 5)

    def body():
        yield b"abc"
        yield b"defgh"

    response = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=body())

    assert response.status_code == 413
    assert _stored(shared_server, location) == b""


def test_chunked_patch_body_streams_to_disk(shared_server: Server, http: httpx.Client) -> None:
    data = bytes(range(256)) * 4096
    location = create_upload(http, shared_server, len(data))

    def body():
        for start in range(0, len(data), 65536):
            yield data[start : start + 65536]

    response = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=body())

    assert (response.status_code, response.headers["Upload-Offset"]) == (204, str(len(data)))
    assert hashlib.sha256(_stored(shared_server, location)).digest() == hashlib.sha256(data).digest()


def test_patch_of_unknown_upload_answers_404(shared_server: Server, http: httpx.Client) -> None:
    response = http.patch(
        shared_server.files_url + "AAAAAAAAAAAAAAAAAAAAAA",
        headers={**TUS, **OCTETS, "Upload-Offset": "0"},
        content=b"a",
    )

    assert response.status_code == 404


def test_empty_patch_at_current_offset_changes_nothing(shared_server: Server, http: httpx.Client) -> None:
    location = create_upload(http, shared_server, 5)

    response = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"")

    assert (response.status_code, response.headers["Upload-Offset"]) == (204, "0")


def test_database_offset_catches_up_after_a_burst_of_patches(shared_server: Server, http: httpx.Client) -> None:
    location = create_upload(http, shared_server, 100)
    for offset in range(50):
        http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": str(offset)}, content=b"x")
    asset_url = f"{shared_server.base_url}/api/assets/{location.rsplit('/', 1)[1]}"

    deadline = time.monotonic() + 5
    while http.get(asset_url).json()["offset"] != 50 and time.monotonic() < deadline:
        time.sleep(0.05)

    assert http.get(asset_url).json()["offset"] == 50


@pytest.mark.parametrize(
    ("real", "override"), [("POST", "PATCH"), ("POST", "DELETE"), ("POST", "HEAD"), ("GET", "HEAD")]
)
def test_x_http_method_override_replaces_the_request_method(
    shared_server: Server, http: httpx.Client, real: str, override: str
) -> None:
    location = create_upload(http, shared_server, 3)
    headers = {**TUS, **OCTETS, "Upload-Offset": "0", "X-HTTP-Method-Override": override}

    response = http.request(real, location, headers=headers, content=b"abc" if override == "PATCH" else None)

    expected = {"PATCH": 204, "DELETE": 204, "HEAD": 200}[override]
    assert response.status_code == expected
    head = http.head(location, headers=TUS)
    if override == "DELETE":
        assert head.status_code == 404
    else:
        assert head.headers["Upload-Offset"] == ("3" if override == "PATCH" else "0")


# More digits than any byte count needs (the 4301 digits are past what int() converts at all), and
# digits that str.isdigit() accepts but are not ASCII, sent as UTF-8 the way a client would.
BAD_NUMBERS = [b"1" * 20, b"1" * 4301, b"1" * 5000, "²".encode(), "٣".encode(), "\uff11".encode(), "5²".encode()]


def _number_id(value: bytes) -> str:
    return f"{value[:8]!r}x{len(value)}"


@pytest.mark.parametrize("client_offset", BAD_NUMBERS, ids=_number_id)
def test_patch_with_an_overlong_or_non_ascii_offset_answers_400_and_changes_nothing(
    shared_server: Server, http: httpx.Client, client_offset: bytes
) -> None:
    location = create_upload(http, shared_server, 5)
    http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"ab")
    before = upload_state(http, shared_server, location)

    response = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": client_offset}, content=b"cd")

    assert response.status_code == 400, response.text
    assert response.text.startswith("Upload-Offset")
    assert response.text.count("\n") == 1 and len(response.text) < 200
    assert upload_state(http, shared_server, location) == before


@pytest.mark.parametrize("length", BAD_NUMBERS, ids=_number_id)
def test_patch_with_an_overlong_or_non_ascii_deferred_length_answers_400_and_changes_nothing(
    shared_server: Server, http: httpx.Client, length: bytes
) -> None:
    location = http.post(shared_server.files_url, headers={**TUS, "Upload-Defer-Length": "1"}).headers["Location"]
    before = upload_state(http, shared_server, location)

    response = http.patch(
        location, headers={**TUS, **OCTETS, "Upload-Offset": "0", "Upload-Length": length}, content=b"ab"
    )

    assert response.status_code == 400, response.text
    assert response.text.startswith("Upload-Length")
    assert upload_state(http, shared_server, location) == before
