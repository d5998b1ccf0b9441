"""The expiration extension: unfinished uploads expire after a time without writes; finished never."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx

from tests.servers import (
    REPO_ROOT,
    TUS,
    Server,
    create_upload,
    process_env,
    start_server,
    upload_bytes,
    wait_for_asset,
)
from tests.storage_choice import is_stored, on_s3, stored_bytes

OCTETS = {"Content-Type": "application/offset+octet-stream"}


def _wait_past_expiry(expiration_seconds: float) -> None:
    """Until an upload last written now has expired. S3 stamps writes in whole seconds, and the store
    counts from the end of that second (an upload never expires early): up to a second more there."""
    time.sleep(expiration_seconds + 0.2 + (1.0 if on_s3() else 0.0))


def _expires(response: httpx.Response) -> datetime:
    value = response.headers["Upload-Expires"]
    assert value.endswith(" GMT")
    return parsedate_to_datetime(value)


def test_upload_expires_is_sent_on_post_patch_and_head_of_unfinished_uploads(
    shared_server: Server, http: httpx.Client
) -> None:
    created = http.post(shared_server.files_url, headers={**TUS, "Upload-Length": "10"})
    location = created.headers["Location"]
    patched = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"abc")
    head = http.head(location, headers=TUS)

    in_a_day = datetime.now(UTC) + timedelta(hours=24)
    for response in (created, patched, head):
        assert abs((_expires(response) - in_a_day).total_seconds()) < 60


def test_finished_uploads_carry_no_expiry(shared_server: Server, http: httpx.Client) -> None:
    location = create_upload(http, shared_server, 3)

    patched = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"abc")

    assert "Upload-Expires" not in patched.headers
    assert "Upload-Expires" not in http.head(location, headers=TUS).headers


def test_expired_upload_answers_410_then_is_removed_with_its_row(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(UPLOAD_EXPIRATION="1", CLEANUP_INTERVAL="0.5")
    location = create_upload(http, server, 10)
    http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"abc")
    finished = upload_bytes(http, server, b"complete")
    upload_id = location.rsplit("/", 1)[1]
    _wait_past_expiry(1)

    head = http.head(location, headers=TUS)
    assert head.status_code in (410, 404)

    deadline = time.monotonic() + 10
    while is_stored(server.data_dir, upload_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not is_stored(server.data_dir, upload_id), "neither bytes nor info are left"
    assert http.get(f"{server.base_url}/api/assets/{upload_id}").status_code == 404
    assert http.head(location, headers=TUS).status_code == 404
    # Finished uploads never expire.
    assert wait_for_asset(http, server, finished)["status"] == "ready"
    assert is_stored(server.data_dir, finished)


def test_patch_to_an_expired_upload_answers_410_and_stores_nothing(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(UPLOAD_EXPIRATION="1", CLEANUP_INTERVAL="3600")
    location = create_upload(http, server, 10)
    _wait_past_expiry(1)

    response = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"abc")

    assert response.status_code == 410
    assert stored_bytes(server.data_dir, location.rsplit("/", 1)[1]) == b""


def _cleanup(server: Server) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "cleanup"],
        cwd=REPO_ROOT,
        env=process_env(server.data_dir, {"UPLOAD_EXPIRATION": "1"}),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_tusmedia_cleanup_removes_expired_uploads_from_the_command_line_while_no_server_runs(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(UPLOAD_EXPIRATION="1", CLEANUP_INTERVAL="3600")
    upload_id = create_upload(http, server, 10).rsplit("/", 1)[1]
    _wait_past_expiry(1)
    server.stop()

    result = _cleanup(server)

    assert result.returncode == 0, result.stderr
    assert "removed 1 expired upload(s)" in result.stdout
    assert not is_stored(server.data_dir, upload_id)
    again = start_server(server.data_dir, {"UPLOAD_EXPIRATION": "1", "CLEANUP_INTERVAL": "3600"})
    try:
        assert http.get(f"{again.base_url}/api/assets/{upload_id}").status_code == 404
    finally:
        again.stop()


def test_tusmedia_cleanup_beside_a_running_server_refuses_in_one_line_and_removes_nothing(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    # Without Redis the server's locks live in its own process: a second process deleting uploads
    # could remove one under a PATCH the server is writing.
    server = server_with(UPLOAD_EXPIRATION="1", CLEANUP_INTERVAL="3600")
    upload_id = create_upload(http, server, 10).rsplit("/", 1)[1]
    _wait_past_expiry(1)

    result = _cleanup(server)

    assert result.returncode != 0
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "server" in result.stderr and str(server.data_dir) in result.stderr
    assert is_stored(server.data_dir, upload_id)
    assert http.get(f"{server.base_url}/api/assets/{upload_id}").status_code == 200


def _partial(server: Server, http: httpx.Client, length: int, data: bytes | None = None) -> str:
    headers = {**TUS, "Upload-Length": str(length), "Upload-Concat": "partial"}
    response = http.post(server.files_url, headers={**headers, **OCTETS} if data else headers, content=data)
    assert response.status_code == 201, response.text
    return response.headers["Location"]


def _final(server: Server, http: httpx.Client, parts: list[str]) -> str:
    response = http.post(server.files_url, headers={**TUS, "Upload-Concat": "final;" + " ".join(parts)})
    assert response.status_code == 201, response.text
    return response.headers["Location"]


def _trickle(http: httpx.Client, location: str, data: bytes, every_seconds: float) -> None:
    for offset in range(len(data)):
        time.sleep(every_seconds)
        response = http.patch(
            location, headers={**TUS, **OCTETS, "Upload-Offset": str(offset)}, content=data[offset : offset + 1]
        )
        assert response.status_code == 204, response.text


def _stored(server: Server, location: str) -> bytes:
    return stored_bytes(server.data_dir, location.rsplit("/", 1)[1])


def test_a_final_declared_before_its_parts_lives_while_a_part_is_still_being_written(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(UPLOAD_EXPIRATION="2", CLEANUP_INTERVAL="0.3")
    part = _partial(server, http, 7)
    final = _final(server, http, [part])

    _trickle(http, part, b"123456", every_seconds=0.6)  # 3.6 s: the final's own clock ran out long ago

    head = http.head(final, headers=TUS)
    assert head.status_code == 200, head.text
    assert abs((_expires(head) - (datetime.now(UTC) + timedelta(seconds=2))).total_seconds()) < 1.5
    http.patch(part, headers={**TUS, **OCTETS, "Upload-Offset": "6"}, content=b"7")
    assert _stored(server, final) == b"1234567"


def test_a_finished_part_lives_while_its_final_awaits_another_part(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(UPLOAD_EXPIRATION="2", CLEANUP_INTERVAL="0.3")
    done, slow = _partial(server, http, 3, b"abc"), _partial(server, http, 5)
    final = _final(server, http, [done, slow])

    _trickle(http, slow, b"defg", every_seconds=0.7)  # 2.8 s after the finished part's last write

    head = http.head(done, headers=TUS)
    assert head.status_code == 200, head.text
    assert _expires(head) > datetime.now(UTC) + timedelta(seconds=1)
    http.patch(slow, headers={**TUS, **OCTETS, "Upload-Offset": "4"}, content=b"h")
    assert _stored(server, final) == b"abcdefgh"
    assert wait_for_asset(http, server, final.rsplit("/", 1)[1])["status"] == "ready"


def test_a_final_and_its_parts_expire_together_once_none_is_written(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(UPLOAD_EXPIRATION="1", CLEANUP_INTERVAL="0.3")
    done, slow = _partial(server, http, 3, b"abc"), _partial(server, http, 5)
    final = _final(server, http, [done, slow])
    uploads = [final, done, slow]

    deadline = time.monotonic() + 10
    while any(is_stored(server.data_dir, url.rsplit("/", 1)[1]) for url in uploads):
        assert time.monotonic() < deadline, "the idle final upload and its parts did not expire"
        time.sleep(0.1)
    assert [http.head(url, headers=TUS).status_code for url in uploads] == [404, 404, 404]
