"""Resumable Uploads for HTTP (draft-ietf-httpbis-resumable-upload), interop versions 3 to 8, on the
same uploads as tus: creation, offset retrieval, appending, cancellation, limits and refusals."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.servers import TESTDATA_MEDIA, TUS, Server, create_upload, stored_uploads, wait_for_asset
from tests.storage_choice import is_stored, on_s3, stored_bytes

VERSIONS = ["3", "4", "5", "6", "7", "8"]
# Interop 6 made application/partial-upload mandatory for appends, and added Upload-Limit and problem types.
WITH_LIMITS = ["6", "7", "8"]
BEFORE_LIMITS = ["3", "4", "5"]
PROBLEM_TYPES = "https://iana.org/assignments/http-problem-types#"


def completeness(version: str, complete: bool) -> dict[str, str]:
    """The completeness field in the version's own words: interop 3 says it the other way round."""
    if version == "3":
        return {"Upload-Incomplete": "?0" if complete else "?1"}
    return {"Upload-Complete": "?1" if complete else "?0"}


def creating(version: str, complete: bool, **more: str) -> dict[str, str]:
    return {"Upload-Draft-Interop-Version": version, **completeness(version, complete), **more}


def appending(version: str, offset: int, complete: bool, **more: str) -> dict[str, str]:
    # Before interop 6 the media type was not required; send none, as tus-js-client does for those.
    media = {"Content-Type": "application/partial-upload"} if version in WITH_LIMITS else {}
    return {**creating(version, complete), **media, "Upload-Offset": str(offset), **more}


def asking(version: str) -> dict[str, str]:
    return {"Upload-Draft-Interop-Version": version}


def says_complete(response: httpx.Response, version: str) -> bool:
    if version == "3":
        return response.headers["Upload-Incomplete"] == "?0"
    return response.headers["Upload-Complete"] == "?1"


def limits(response: httpx.Response) -> dict[str, int]:
    members = (member.strip().split("=", 1) for member in response.headers["Upload-Limit"].split(","))
    return {key: int(value) for key, value in members}


def upload_id_of(location: str) -> str:
    return location.rsplit("/", 1)[1]


def stored(server: Server, location: str) -> bytes:
    return stored_bytes(server.data_dir, location.rsplit("/", 1)[1])


def create(http: httpx.Client, server: Server, version: str, body: bytes, complete: bool, **more: str) -> str:
    response = http.post(server.files_url, headers=creating(version, complete, **more), content=body)
    assert response.status_code == 201, response.text
    return response.headers["Location"]


@pytest.mark.parametrize("version", VERSIONS)
def test_creation_with_the_whole_file_completes_the_upload_and_the_asset_becomes_ready(
    shared_server: Server, http: httpx.Client, version: str
) -> None:
    photo = (TESTDATA_MEDIA / "hopper.jpg").read_bytes()
    named = {"Content-Type": "image/jpeg", "Content-Disposition": "inline; filename*=UTF-8''hopper%20photo.jpg"}

    response = http.post(shared_server.files_url, headers=creating(version, True, **named), content=photo)

    assert response.status_code == 201, response.text
    assert response.headers["Upload-Offset"] == str(len(photo))
    assert says_complete(response, version)
    assert response.headers["Upload-Draft-Interop-Version"] == version
    assert "Tus-Resumable" not in response.headers
    location = response.headers["Location"]
    assert stored(shared_server, location) == photo
    asset = wait_for_asset(http, shared_server, upload_id_of(location))
    assert (asset["status"], asset["length"], asset["format"]) == ("ready", len(photo), "JPEG")
    assert (asset["filename"], asset["declared_type"]) == ("hopper photo.jpg", "image/jpeg")


@pytest.mark.parametrize("version", VERSIONS)
def test_incomplete_creation_is_resumed_with_head_and_completed_with_patch(
    shared_server: Server, http: httpx.Client, version: str
) -> None:
    data = os.urandom(300_000)
    created = http.post(
        shared_server.files_url,
        headers=creating(version, False, **{"Upload-Length": str(len(data))}),
        content=data[:100_000],
    )
    assert created.status_code == 201, created.text
    assert (created.headers["Upload-Offset"], says_complete(created, version)) == ("100000", False)
    location = created.headers["Location"]
    assert wait_for_asset(http, shared_server, upload_id_of(location), ("uploading",))["offset"] == 100_000

    head = http.head(location, headers=asking(version))
    assert head.status_code == 204
    assert (head.headers["Upload-Offset"], head.headers["Upload-Length"]) == ("100000", str(len(data)))
    assert not says_complete(head, version)
    assert head.headers["Cache-Control"] == "no-store"

    middle = http.patch(location, headers=appending(version, 100_000, False), content=data[100_000:200_000])
    assert (middle.status_code, middle.headers["Upload-Offset"], says_complete(middle, version)) == (
        204,
        "200000",
        False,
    )
    last = http.patch(location, headers=appending(version, 200_000, True), content=data[200_000:])

    assert (last.status_code, last.headers["Upload-Offset"], says_complete(last, version)) == (204, "300000", True)
    assert says_complete(http.head(location, headers=asking(version)), version)
    assert stored(shared_server, location) == data
    asset = wait_for_asset(http, shared_server, upload_id_of(location))
    assert (asset["status"], asset["length"], asset["offset"]) == ("ready", len(data), len(data))


@pytest.mark.parametrize("version", VERSIONS)
def test_patch_at_a_wrong_offset_answers_409_with_the_correct_offset(
    shared_server: Server, http: httpx.Client, version: str
) -> None:
    location = create(http, shared_server, version, b"abc", complete=False)

    response = http.patch(location, headers=appending(version, 1, False), content=b"xyz")

    assert response.status_code == 409
    assert response.headers["Upload-Offset"] == "3"
    if version in WITH_LIMITS:
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.json() == {
            "type": PROBLEM_TYPES + "mismatching-upload-offset",
            "title": "Upload-Offset 1 does not match the upload's offset 3",
            "expected-offset": 3,
            "provided-offset": 1,
        }
    assert stored(shared_server, location) == b"abc"


@pytest.mark.parametrize("version", ["3", "8"])
@pytest.mark.parametrize(
    "header",
    [
        {"Upload-Metadata": "flag" + "x" * 16 * 1024},
        {"Content-Disposition": 'attachment; filename="' + "x" * 16 * 1024 + '.jpg"'},
    ],
    ids=["upload-metadata", "content-disposition"],
)
def test_creation_with_metadata_over_max_metadata_size_answers_400_and_creates_nothing(
    shared_server: Server, http: httpx.Client, version: str, header: dict[str, str]
) -> None:
    before = stored_uploads(http, shared_server)

    response = http.post(shared_server.files_url, headers=creating(version, True, **header), content=b"abc")

    assert response.status_code == 400
    assert response.headers["Upload-Draft-Interop-Version"] == version
    assert "this server takes at most 16384" in response.text
    assert "Location" not in response.headers
    assert stored_uploads(http, shared_server) == before


@pytest.mark.parametrize("version", VERSIONS)
def test_delete_cancels_the_upload_and_removes_its_bytes_and_row(
    shared_server: Server, http: httpx.Client, version: str
) -> None:
    location = create(http, shared_server, version, b"partial", complete=False)
    upload_id = upload_id_of(location)

    response = http.delete(location, headers=asking(version))

    assert response.status_code == 204
    assert http.head(location, headers=asking(version)).status_code == 404
    assert http.patch(location, headers=appending(version, 7, True), content=b"!").status_code == 404
    assert not is_stored(shared_server.data_dir, upload_id)
    assert http.get(f"{shared_server.base_url}/api/assets/{upload_id}").status_code == 404


def _chunked(data: bytes, piece: int = 16_384) -> Iterator[bytes]:
    for start in range(0, len(data), piece):
        yield data[start : start + piece]


@pytest.mark.parametrize("version", VERSIONS)
def test_an_upload_of_unknown_length_takes_its_length_from_the_request_that_completes_it(
    shared_server: Server, http: httpx.Client, version: str
) -> None:
    data = os.urandom(150_000)
    location = create(http, shared_server, version, data[:50_000], complete=False)
    head = http.head(location, headers=asking(version))
    assert "Upload-Length" not in head.headers
    assert wait_for_asset(http, shared_server, upload_id_of(location), ("uploading",))["length"] is None

    # Sent chunked, without Content-Length: the length is only known once the body has ended.
    last = http.patch(location, headers=appending(version, 50_000, True), content=_chunked(data[50_000:]))

    assert (last.status_code, last.headers["Upload-Offset"], says_complete(last, version)) == (204, "150000", True)
    assert last.headers["Upload-Length"] == str(len(data))
    assert stored(shared_server, location) == data
    asset = wait_for_asset(http, shared_server, upload_id_of(location))
    assert (asset["status"], asset["length"]) == ("ready", len(data))


@pytest.mark.parametrize("version", VERSIONS)
def test_an_upload_of_unknown_length_completed_by_an_empty_patch_ends_at_its_offset(
    shared_server: Server, http: httpx.Client, version: str
) -> None:
    location = create(http, shared_server, version, b"all of it", complete=False)

    last = http.patch(location, headers=appending(version, 9, True), content=b"")

    assert (last.status_code, last.headers["Upload-Length"], says_complete(last, version)) == (204, "9", True)
    assert wait_for_asset(http, shared_server, upload_id_of(location))["status"] == "ready"


@pytest.mark.parametrize("version", VERSIONS)
def test_an_empty_creation_that_says_complete_is_an_empty_ready_file(
    shared_server: Server, http: httpx.Client, version: str
) -> None:
    location = create(http, shared_server, version, b"", complete=True)

    asset = wait_for_asset(http, shared_server, upload_id_of(location))
    assert (asset["status"], asset["length"]) == ("ready", 0)


@pytest.mark.parametrize("version", WITH_LIMITS)
def test_upload_limit_announces_the_maximum_size_and_the_time_left_from_interop_6(
    shared_server: Server, http: httpx.Client, version: str
) -> None:
    maximum = 500 * 1024 * 1024
    lifetime_key = "expires" if version == "6" else "max-age"  # renamed in draft -06 (interop 7)
    created = http.post(shared_server.files_url, headers=creating(version, False), content=b"abc")
    location = created.headers["Location"]

    head = http.head(location, headers=asking(version))
    options = http.options(shared_server.files_url, headers=asking(version))
    done = http.patch(location, headers=appending(version, 3, True), content=b"")

    assert limits(created)["max-size"] == maximum
    assert 0 < limits(created)[lifetime_key] <= 24 * 3600
    assert limits(head)["max-size"] == maximum
    assert 0 < limits(head)[lifetime_key] <= 24 * 3600
    assert (options.status_code, limits(options)) == (200, {"max-size": maximum})
    assert options.headers["Accept-Patch"] == "application/partial-upload"
    assert limits(done) == {"max-size": maximum}, "a finished upload never expires"


@pytest.mark.parametrize("version", BEFORE_LIMITS)
def test_versions_before_interop_6_get_no_upload_limit(shared_server: Server, http: httpx.Client, version: str) -> None:
    created = http.post(shared_server.files_url, headers=creating(version, False), content=b"abc")

    head = http.head(created.headers["Location"], headers=asking(version))

    assert "Upload-Limit" not in created.headers
    assert "Upload-Limit" not in head.headers


@pytest.mark.parametrize("version", VERSIONS)
def test_a_length_above_the_maximum_answers_413_before_anything_is_stored(
    shared_server: Server, http: httpx.Client, version: str
) -> None:
    too_long = str(500 * 1024 * 1024 + 1)

    response = http.post(shared_server.files_url, headers=creating(version, False, **{"Upload-Length": too_long}))

    assert response.status_code == 413
    assert "Location" not in response.headers
    assert ("Upload-Limit" in response.headers) == (version in WITH_LIMITS)


@pytest.mark.parametrize("version", VERSIONS)
def test_appending_to_a_completed_upload_is_refused_and_changes_nothing(
    shared_server: Server, http: httpx.Client, version: str
) -> None:
    location = create(http, shared_server, version, b"done", complete=True)

    response = http.patch(location, headers=appending(version, 4, True), content=b"more")

    assert response.status_code == 400
    if version in WITH_LIMITS:
        assert response.json()["type"] == PROBLEM_TYPES + "completed-upload"
    assert stored(shared_server, location) == b"done"


@pytest.mark.parametrize("version", VERSIONS)
def test_an_empty_patch_saying_complete_after_the_last_byte_is_answered_as_complete(
    shared_server: Server, http: httpx.Client, version: str
) -> None:
    # Its length was known, so the last byte finished it although that request said "not yet".
    location = create(http, shared_server, version, b"12345", complete=False, **{"Upload-Length": "5"})

    response = http.patch(location, headers=appending(version, 5, True), content=b"")

    assert (response.status_code, says_complete(response, version)) == (204, True)
    assert wait_for_asset(http, shared_server, upload_id_of(location))["status"] == "ready"


@pytest.mark.parametrize("version", VERSIONS)
def test_lengths_that_disagree_are_refused_with_400(shared_server: Server, http: httpx.Client, version: str) -> None:
    response = http.post(
        shared_server.files_url, headers=creating(version, True, **{"Upload-Length": "10"}), content=b"abc"
    )

    assert response.status_code == 400
    assert "Location" not in response.headers
    if version in ("7", "8"):
        assert response.json()["type"] == PROBLEM_TYPES + "inconsistent-upload-length"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_body_past_the_known_length_is_refused_and_changes_nothing(
    shared_server: Server, http: httpx.Client, version: str
) -> None:
    location = create(http, shared_server, version, b"ab", complete=False, **{"Upload-Length": "4"})

    response = http.patch(location, headers=appending(version, 2, False), content=b"cdef")

    assert response.status_code == 400
    assert stored(shared_server, location) == b"ab"


@pytest.mark.parametrize("version", WITH_LIMITS)
def test_from_interop_6_an_append_needs_the_partial_upload_media_type(
    shared_server: Server, http: httpx.Client, version: str
) -> None:
    location = create(http, shared_server, version, b"abc", complete=False)
    headers = {**appending(version, 3, True), "Content-Type": "application/offset+octet-stream"}

    response = http.patch(location, headers=headers, content=b"def")

    assert response.status_code == 415
    assert stored(shared_server, location) == b"abc"


@pytest.mark.parametrize("version", ["0", "2", "9", "latest"])
def test_an_unsupported_interop_version_answers_400_naming_the_supported_ones(
    shared_server: Server, http: httpx.Client, version: str
) -> None:
    response = http.post(shared_server.files_url, headers=creating(version, True), content=b"abc")

    assert response.status_code == 400
    assert "3, 4, 5, 6, 7, 8" in response.text


def test_an_upload_created_with_tus_can_be_finished_through_the_draft(
    shared_server: Server, http: httpx.Client
) -> None:
    location = create_upload(http, shared_server, 6)
    http.patch(
        location,
        headers={**TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"},
        content=b"abc",
    )

    head = http.head(location, headers=asking("8"))
    last = http.patch(location, headers=appending("8", int(head.headers["Upload-Offset"]), True), content=b"def")

    assert (last.status_code, last.headers["Upload-Complete"]) == (204, "?1")
    assert stored(shared_server, location) == b"abcdef"
    assert wait_for_asset(http, shared_server, upload_id_of(location))["status"] == "ready"


def test_requests_without_the_interop_version_still_need_tus_resumable(
    shared_server: Server, http: httpx.Client
) -> None:
    response = http.post(shared_server.files_url, headers={"Upload-Complete": "?1"}, content=b"abc")

    assert response.status_code == 412
    assert response.headers["Tus-Resumable"] == "1.0.0"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_stalled_append_is_handed_over_to_the_offset_retrieval_and_keeps_its_bytes(
    shared_server: Server, http: httpx.Client, version: str
) -> None:
    data = os.urandom(200_000)
    location = create(http, shared_server, version, b"", complete=False, **{"Upload-Length": str(len(data))})
    upload_id = upload_id_of(location)
    fields = "".join(f"{name}: {value}\r\n" for name, value in appending(version, 0, True).items())
    head = (
        f"PATCH /files/{upload_id} HTTP/1.1\r\nHost: 127.0.0.1:{shared_server.port}\r\n{fields}"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", shared_server.port), timeout=30) as stalled:
        stalled.sendall(head.encode() + data[:70_000])
        _wait_until_stored(shared_server, upload_id, 70_000)

        resumed = http.head(location, headers=asking(version))

        assert (resumed.status_code, resumed.headers["Upload-Offset"]) == (204, "70000")
        assert stalled.recv(4096).startswith(b"HTTP/1.1 400")
    last = http.patch(location, headers=appending(version, 70_000, True), content=data[70_000:])
    assert (last.status_code, says_complete(last, version)) == (204, True)
    assert hashlib.sha256(stored(shared_server, location)).digest() == hashlib.sha256(data).digest()


def _wait_until_stored(server: Server, upload_id: str, size: int, timeout: float = 10) -> None:
    if on_s3():
        # Bytes of an unfinished part wait in the server's spool until the request ends: nothing to
        # watch from outside, so give them the time to arrive.
        time.sleep(1)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (server.data_dir / "uploads" / upload_id).stat().st_size == size:
            return
        time.sleep(0.02)
    raise AssertionError(f"the upload never reached {size} bytes on disk")
