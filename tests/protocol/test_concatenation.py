"""The concatenation and concatenation-unfinished extensions."""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.servers import TUS, Server, StalledPatch, create_upload, stored_uploads, upload_state, wait_for_asset
from tests.storage_choice import stored_bytes, stored_derivatives, stored_info

OCTETS = {"Content-Type": "application/offset+octet-stream"}


def _partial(server: Server, http: httpx.Client, length: int, data: bytes | None = None) -> str:
    headers = {**TUS, "Upload-Length": str(length), "Upload-Concat": "partial"}
    if data is not None:
        response = http.post(server.files_url, headers={**headers, **OCTETS}, content=data)
    else:
        response = http.post(server.files_url, headers=headers)
    assert response.status_code == 201, response.text
    return response.headers["Location"]


def _final(server: Server, http: httpx.Client, urls: list[str], **headers: str) -> httpx.Response:
    return http.post(server.files_url, headers={**TUS, "Upload-Concat": "final;" + " ".join(urls), **headers})


def _stored(server: Server, location: str) -> bytes:
    return stored_bytes(server.data_dir, location.rsplit("/", 1)[1])


def test_final_upload_joins_finished_partials_in_order_and_becomes_the_only_asset(
    server: Server, http: httpx.Client
) -> None:
    pieces = [os.urandom(70_000), os.urandom(1), os.urandom(123_457)]
    parts = [_partial(server, http, len(piece), piece) for piece in pieces]

    response = _final(server, http, parts, **{"Upload-Metadata": "filename am9pbmVkLmJpbg=="})

    assert response.status_code == 201
    final = response.headers["Location"]
    assert hashlib.sha256(_stored(server, final)).digest() == hashlib.sha256(b"".join(pieces)).digest()
    head = http.head(final, headers=TUS)
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == str(sum(map(len, pieces)))
    assert head.headers["Upload-Concat"].startswith("final;")
    asset = wait_for_asset(http, server, final.rsplit("/", 1)[1])
    assert (asset["status"], asset["filename"], asset["length"]) == ("ready", "joined.bin", sum(map(len, pieces)))
    listed = http.get(f"{server.base_url}/api/assets").json()["items"]
    assert [item["id"] for item in listed] == [final.rsplit("/", 1)[1]], "partial uploads are not assets"


def test_partial_urls_may_be_relative_paths(shared_server: Server, http: httpx.Client) -> None:
    part = _partial(shared_server, http, 3, b"abc")
    relative = "/files/" + part.rsplit("/", 1)[1]

    response = _final(shared_server, http, [relative, part])

    assert response.status_code == 201
    assert _stored(shared_server, response.headers["Location"]) == b"abcabc"


def test_head_of_a_partial_upload_says_partial(shared_server: Server, http: httpx.Client) -> None:
    part = _partial(shared_server, http, 3)

    assert http.head(part, headers=TUS).headers["Upload-Concat"] == "partial"


def test_patch_on_a_final_upload_answers_403(shared_server: Server, http: httpx.Client) -> None:
    final = _final(shared_server, http, [_partial(shared_server, http, 2)]).headers["Location"]

    response = http.patch(final, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"xy")

    assert response.status_code == 403


def test_final_declared_before_its_parts_finish_is_assembled_when_the_last_one_does(
    server: Server, http: httpx.Client
) -> None:
    first, second = _partial(server, http, 4), _partial(server, http, 3)
    final = _final(server, http, [first, second]).headers["Location"]
    head = http.head(final, headers=TUS)
    assert "Upload-Offset" not in head.headers, "an unfinished final upload has no offset yet"
    assert head.headers["Upload-Length"] == "7"

    http.patch(second, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"567")
    assert _stored(server, final) == b""
    http.patch(first, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"1234")

    assert _stored(server, final) == b"1234567"
    assert http.head(final, headers=TUS).headers["Upload-Offset"] == "7"
    assert wait_for_asset(http, server, final.rsplit("/", 1)[1])["status"] == "ready"


@pytest.mark.parametrize(
    "make_url",
    [
        lambda server, http: create_upload(http, server, 3),  # not partial
        lambda server, http: server.files_url + "AAAAAAAAAAAAAAAAAAAAAA",  # unknown
        lambda server, http: "https://elsewhere.example/uploads/AAAAAAAAAAAAAAAAAAAAAA",  # not ours
    ],
)
def test_final_naming_something_other_than_our_partial_uploads_answers_400(
    shared_server: Server, http: httpx.Client, make_url
) -> None:
    response = _final(shared_server, http, [_partial(shared_server, http, 1, b"a"), make_url(shared_server, http)])

    assert response.status_code == 400


@pytest.mark.parametrize("finished", [True, False], ids=["finished-parts", "unfinished-parts"])
@pytest.mark.parametrize(
    "length_header", [{"Upload-Length": "6"}, {"Upload-Length": "99"}, {"Upload-Defer-Length": "1"}]
)
def test_final_with_a_length_of_its_own_answers_400_and_creates_nothing(
    shared_server: Server, http: httpx.Client, finished: bool, length_header: dict[str, str]
) -> None:
    parts = [_partial(shared_server, http, 3, b"abc" if finished else None) for _ in range(2)]
    parts_before = [upload_state(http, shared_server, part) for part in parts]
    before = stored_uploads(http, shared_server)

    response = _final(shared_server, http, parts, **length_header)

    assert response.status_code == 400
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert "sum of its parts" in response.text
    assert stored_uploads(http, shared_server) == before
    assert [upload_state(http, shared_server, part) for part in parts] == parts_before


def test_final_without_parts_answers_400(shared_server: Server, http: httpx.Client) -> None:
    assert _final(shared_server, http, []).status_code == 400


def test_final_longer_than_the_maximum_size_answers_413(server_with, http: httpx.Client) -> None:
    server = server_with(MAX_FILE_SIZE="10")
    parts = [_partial(server, http, 6), _partial(server, http, 6)]

    assert _final(server, http, parts).status_code == 413


def test_partials_are_not_processed(server: Server, http: httpx.Client) -> None:
    part = _partial(server, http, 3, b"abc")
    time.sleep(0.5)

    assert http.get(f"{server.base_url}/api/assets/{part.rsplit('/', 1)[1]}").status_code == 404
    assert stored_derivatives(server.data_dir, part.rsplit("/", 1)[1]) == []


def test_a_final_declared_while_a_part_receives_bytes_waits_for_that_patch_without_disturbing_it(
    server: Server, http: httpx.Client
) -> None:
    part = _partial(server, http, 6)
    patch = StalledPatch(server, part.rsplit("/", 1)[1], 6, b"abc")
    try:
        with ThreadPoolExecutor(1) as pool:
            declared = pool.submit(_final, server, http, [part])
            time.sleep(0.5)  # the final waits for the part's lock: never interrupting a client, however slow
            patch.connection.sendall(b"def")
            assert patch.response().startswith("HTTP/1.1 204")
            response = declared.result(10)
    finally:
        patch.close()

    assert response.status_code == 201, response.text
    assert _stored(server, response.headers["Location"]) == b"abcdef"


def test_a_final_whose_part_stays_busy_answers_423_and_leaves_nothing_behind(server_with, http: httpx.Client) -> None:
    server = server_with(LOCK_WAIT="1")
    idle, busy = _partial(server, http, 3), _partial(server, http, 6)
    idle_before = upload_state(http, server, idle)
    busy_info = stored_info(server.data_dir, busy.rsplit("/", 1)[1])
    before = stored_uploads(http, server)
    patch = StalledPatch(server, busy.rsplit("/", 1)[1], 6, b"abc")
    try:
        response = _final(server, http, [idle, busy])

        # The PATCH it waited for was never interrupted: it still takes the rest of its body.
        patch.connection.sendall(b"def")
        assert patch.response().startswith("HTTP/1.1 204")
    finally:
        patch.close()

    assert response.status_code == 423, response.text
    assert stored_uploads(http, server) == before
    assert upload_state(http, server, idle) == idle_before
    assert stored_info(server.data_dir, busy.rsplit("/", 1)[1]) == busy_info
