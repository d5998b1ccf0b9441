"""tuspy, an off-the-shelf tus client, against the real server."""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import httpx
import pytest
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError

from tests.access import CHECKED, bearer, make_token
from tests.servers import TUS, Server, start_server, wait_for_asset

MIB = 1024 * 1024


def _random_file(path: Path, size: int) -> str:
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _stored_sha256(server: Server, upload_url: str) -> str:
    return hashlib.sha256((server.data_dir / "uploads" / upload_url.rsplit("/", 1)[1]).read_bytes()).hexdigest()


def test_tuspy_uploads_5_mib_in_1_mib_chunks_byte_identical(server: Server, http: httpx.Client, tmp_path: Path) -> None:
    source = tmp_path / "random.bin"
    digest = _random_file(source, 5 * MIB)
    # A stream we close ourselves: tuspy leaves files it opened from a path unclosed.
    with source.open("rb") as stream:
        uploader = tus_client.TusClient(server.files_url).uploader(
            file_stream=stream, chunk_size=MIB, metadata={"filename": "random.bin"}
        )
        uploader.upload()

    assert _stored_sha256(server, uploader.url) == digest
    asset = wait_for_asset(http, server, uploader.url.rsplit("/", 1)[1])
    assert (asset["status"], asset["length"], asset["filename"]) == ("ready", 5 * MIB, "random.bin")


def test_tuspy_interrupted_upload_resumes_from_a_new_uploader(
    server: Server, http: httpx.Client, tmp_path: Path
) -> None:
    source = tmp_path / "random.bin"
    digest = _random_file(source, 5 * MIB)
    with source.open("rb") as stream:
        first = tus_client.TusClient(server.files_url).uploader(file_stream=stream, chunk_size=MIB)
        first.upload(stop_at=2 * MIB)
    assert http.head(first.url, headers=TUS).headers["Upload-Offset"] == str(2 * MIB)

    with source.open("rb") as stream:
        resumed = tus_client.TusClient(server.files_url).uploader(file_stream=stream, chunk_size=MIB, url=first.url)
        assert resumed.offset == 2 * MIB
        resumed.upload()

    assert _stored_sha256(server, first.url) == digest
    assert wait_for_asset(http, server, first.url.rsplit("/", 1)[1])["status"] == "ready"


def test_tuspy_resumes_with_its_metadata_after_the_server_process_restarts(tmp_path: Path, http: httpx.Client) -> None:
    source = tmp_path / "random.bin"
    digest = _random_file(source, 5 * MIB)
    data_dir = tmp_path / "data"
    before = start_server(data_dir)
    try:
        with source.open("rb") as stream:
            first = tus_client.TusClient(before.files_url).uploader(
                file_stream=stream, chunk_size=MIB, metadata={"filename": "été.bin", "filetype": "application/x-test"}
            )
            first.upload(stop_at=2 * MIB)
    finally:
        assert before.stop() in (0, -signal.SIGTERM), before.log()
    upload_id = first.url.rsplit("/", 1)[1]

    after = start_server(data_dir)
    try:
        with source.open("rb") as stream:
            resumed = tus_client.TusClient(after.files_url).uploader(
                file_stream=stream, chunk_size=MIB, url=after.files_url + upload_id
            )
            assert resumed.offset == 2 * MIB
            resumed.upload()
        asset = wait_for_asset(http, after, upload_id)
    finally:
        after.stop()

    assert _stored_sha256(after, first.url) == digest
    assert (asset["status"], asset["filename"], asset["declared_type"]) == ("ready", "été.bin", "application/x-test")
    assert asset["metadata"] == {"filename": "été.bin", "filetype": "application/x-test"}


def test_tuspy_uploads_with_a_token_as_its_user_and_without_one_is_refused(tmp_path: Path, http: httpx.Client) -> None:
    server = start_server(tmp_path / "data", CHECKED)
    try:
        alice = bearer(make_token(server.data_dir, "alice"))
        source = tmp_path / "random.bin"
        digest = _random_file(source, 2 * MIB)
        with source.open("rb") as stream:
            uploader = tus_client.TusClient(server.files_url, headers=alice).uploader(
                file_stream=stream, chunk_size=MIB, metadata={"filename": "random.bin"}
            )
            uploader.upload()
        with source.open("rb") as stream, pytest.raises(TusCommunicationError) as refused:
            tus_client.TusClient(server.files_url).uploader(file_stream=stream, chunk_size=MIB).upload()
        asset = http.get(f"{server.base_url}/api/assets/{uploader.url.rsplit('/', 1)[1]}", headers=alice).json()
    finally:
        server.stop()

    assert _stored_sha256(server, uploader.url) == digest
    assert asset["owner"] == "alice"
    assert refused.value.status_code == 401
