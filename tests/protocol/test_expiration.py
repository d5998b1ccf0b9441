"""The expiration extension: unfinished uploads expire after a time without writes; finished never."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx

from tests.servers import REPO_ROOT, TUS, Server, create_upload, process_env, upload_bytes, wait_for_asset

OCTETS = {"Content-Type": "application/offset+octet-stream"}


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
    time.sleep(1.2)

    head = http.head(location, headers=TUS)
    assert head.status_code in (410, 404)

    deadline = time.monotonic() + 10
    while (server.data_dir / "uploads" / upload_id).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not (server.data_dir / "uploads" / upload_id).exists()
    assert not (server.data_dir / "uploads" / f"{upload_id}.info").exists()
    assert http.get(f"{server.base_url}/api/assets/{upload_id}").status_code == 404
    assert http.head(location, headers=TUS).status_code == 404
    # Finished uploads never expire.
    assert wait_for_asset(http, server, finished)["status"] == "ready"
    assert (server.data_dir / "uploads" / finished).exists()


def test_patch_to_an_expired_upload_answers_410_and_stores_nothing(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(UPLOAD_EXPIRATION="1", CLEANUP_INTERVAL="3600")
    location = create_upload(http, server, 10)
    time.sleep(1.2)

    response = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"abc")

    assert response.status_code == 410
    assert (server.data_dir / "uploads" / location.rsplit("/", 1)[1]).read_bytes() == b""


def test_tusmedia_cleanup_removes_expired_uploads_from_the_command_line(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(UPLOAD_EXPIRATION="1", CLEANUP_INTERVAL="3600")
    upload_id = create_upload(http, server, 10).rsplit("/", 1)[1]
    time.sleep(1.2)

    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "cleanup"],
        cwd=REPO_ROOT,
        env=process_env(server.data_dir, {"UPLOAD_EXPIRATION": "1"}),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert "removed 1 expired upload(s)" in result.stdout
    assert not (server.data_dir / "uploads" / upload_id).exists()
    assert http.get(f"{server.base_url}/api/assets/{upload_id}").status_code == 404
