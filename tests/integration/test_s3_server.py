"""The tus server with its uploads in S3 (SeaweedFS, checking signatures and refusing short parts):
large uploads in small PATCHes, crashes between parts, concatenation, termination, the media pipeline."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tusclient import client as tus_client

from app.storage.s3store import S3Store
from app.vocabulary import new_upload_id
from tests.access import make_token
from tests.s3_service import SeaweedFS
from tests.servers import (
    TESTDATA_MEDIA,
    TUS,
    Server,
    StalledPatch,
    create_upload,
    derivatives_on_disk,
    start_server,
    upload_bytes,
    wait_for_asset,
)
from tests.store_bodies import chunks, new_upload
from tests.tcp_relay import TcpRelay

MIB = 1024 * 1024
PART = 5 * MIB
OCTETS = {"Content-Type": "application/offset+octet-stream"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def bucket(seaweedfs: SeaweedFS) -> str:
    return seaweedfs.new_bucket()


@pytest.fixture
def s3_server(seaweedfs: SeaweedFS, bucket: str, server_with: Callable[..., Server]) -> Callable[..., Server]:
    def start(**settings: str) -> Server:
        return server_with(**seaweedfs.settings(bucket, "media/"), S3_PART_SIZE=str(PART), **settings)

    return start


@pytest.fixture
def stalled() -> Iterator[list[StalledPatch]]:
    opened: list[StalledPatch] = []
    yield opened
    for patch in opened:
        patch.close()


def _bucket_view(seaweedfs: SeaweedFS, bucket: str) -> dict[str, Any]:
    """What the bucket holds, read with a client of the test's own: object names and sizes, and the
    parts of each multipart upload still open."""
    client = seaweedfs.client()
    objects = {item["Key"]: item["Size"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])}
    pending = {}
    for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        parts = client.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]).get("Parts", [])
        pending[upload["Key"]] = [part["Size"] for part in parts]
    return {"objects": objects, "multipart": pending}


def _object(seaweedfs: SeaweedFS, bucket: str, key: str) -> bytes:
    return seaweedfs.client().get_object(Bucket=bucket, Key=key)["Body"].read()


def _patch_all(http: httpx.Client, location: str, data: bytes, chunk: int, offset: int = 0) -> None:
    """PATCH ``data`` from ``offset`` to its end, ``chunk`` bytes at a time."""
    while offset < len(data):
        body = data[offset : offset + chunk]
        answer = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": str(offset)}, content=body)
        assert answer.status_code == 204, answer.text
        offset += len(body)
        assert answer.headers["Upload-Offset"] == str(offset)


def test_64_mib_in_1_mib_patches_becomes_one_object_with_identical_bytes(
    s3_server: Callable[..., Server], seaweedfs: SeaweedFS, bucket: str, http: httpx.Client
) -> None:
    server = s3_server()
    data = os.urandom(64 * MIB)
    location = create_upload(http, server, len(data))
    upload_id = location.rsplit("/", 1)[1]

    _patch_all(http, location, data, MIB)

    view = _bucket_view(seaweedfs, bucket)
    assert view["multipart"] == {}, "the multipart upload was completed"
    assert sorted(view["objects"]) == [f"media/{upload_id}", f"media/{upload_id}.info"], "no tail is left"
    assert hashlib.sha256(_object(seaweedfs, bucket, f"media/{upload_id}")).digest() == hashlib.sha256(data).digest()
    ranged = http.get(f"{server.files_url}{upload_id}", headers={"Range": f"bytes={PART - 3}-{PART + 2}"})
    assert (ranged.status_code, ranged.content) == (206, data[PART - 3 : PART + 3])


@pytest.mark.anyio
async def test_an_upload_of_more_than_1000_parts_reports_the_right_offset(
    seaweedfs: SeaweedFS, bucket: str, s3_store_on: Callable[..., S3Store]
) -> None:
    # Parts of 1 KiB (S3 takes any size until the upload is completed), so 1,100 parts stay small.
    store = s3_store_on(bucket, 1024)
    upload_id = await new_upload(store, 2 * MIB)

    try:
        assert await store.append(upload_id, 0, chunks(*[b"p" * 10240] * 110)) == 1100 * 1024
        assert await store.append(upload_id, 1100 * 1024, chunks(b"tail")) == 1100 * 1024 + 4
        assert await store.offset(upload_id) == 1100 * 1024 + 4
    finally:
        await store.close()
    client = seaweedfs.client()
    multipart = client.list_multipart_uploads(Bucket=bucket)["Uploads"][0]["UploadId"]
    first_page = client.list_parts(Bucket=bucket, Key=upload_id, UploadId=multipart, MaxParts=1000)
    assert first_page["IsTruncated"] and len(first_page["Parts"]) == 1000, "one page would have missed parts"


def test_kill_9_between_parts_the_offset_after_restart_is_what_the_bucket_holds(
    seaweedfs: SeaweedFS,
    bucket: str,
    tmp_path: Path,
    http: httpx.Client,
    stalled: list[StalledPatch],
) -> None:
    settings = {**seaweedfs.settings(bucket), "S3_PART_SIZE": str(PART)}
    data = os.urandom(13 * MIB)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    first = start_server(tmp_path / "data", settings)
    location = create_upload(http, first, len(data))
    upload_id = location.rsplit("/", 1)[1]
    stalled.append(StalledPatch(first, upload_id, len(data), data[: 2 * PART + 777]))
    deadline = time.monotonic() + 20
    while _bucket_view(seaweedfs, bucket)["multipart"].get(upload_id, []) != [PART, PART]:
        assert time.monotonic() < deadline, _bucket_view(seaweedfs, bucket)
        time.sleep(0.05)

    first.process.send_signal(signal.SIGKILL)
    first.process.wait(10)
    second = start_server(tmp_path / "data", settings)
    try:
        with source.open("rb") as stream:
            uploader = tus_client.TusClient(second.files_url).uploader(
                file_stream=stream, chunk_size=3 * MIB, url=second.files_url + upload_id
            )
            assert uploader.offset == 2 * PART, "HEAD reports the two stored parts, not the spooled bytes"
            uploader.upload()
    finally:
        second.stop()

    assert _object(seaweedfs, bucket, upload_id) == data
    assert _bucket_view(seaweedfs, bucket)["multipart"] == {}


def test_concatenation_of_large_and_small_parts(
    s3_server: Callable[..., Server], seaweedfs: SeaweedFS, bucket: str, http: httpx.Client
) -> None:
    server = s3_server()
    pieces = [os.urandom(PART + 3), os.urandom(2 * MIB), os.urandom(PART)]
    partials = []
    for piece in pieces:
        answer = http.post(
            server.files_url,
            headers={**TUS, **OCTETS, "Upload-Length": str(len(piece)), "Upload-Concat": "partial"},
            content=piece,
        )
        assert answer.status_code == 201, answer.text
        partials.append(answer.headers["Location"])
    orders = {"small in the middle": partials, "large parts only": [partials[0], partials[2]]}

    for order in orders.values():
        paths = " ".join(httpx.URL(location).path for location in order)
        final = http.post(server.files_url, headers={**TUS, "Upload-Concat": f"final;{paths}"})
        assert final.status_code == 201, final.text
        final_id = final.headers["Location"].rsplit("/", 1)[1]
        expected = b"".join(pieces[partials.index(location)] for location in order)
        assert http.head(final.headers["Location"], headers=TUS).headers["Upload-Offset"] == str(len(expected))
        assert _object(seaweedfs, bucket, f"media/{final_id}") == expected
    assert _bucket_view(seaweedfs, bucket)["multipart"] == {}


def test_termination_leaves_nothing_of_the_upload_behind(
    s3_server: Callable[..., Server], seaweedfs: SeaweedFS, bucket: str, http: httpx.Client
) -> None:
    server = s3_server()
    location = create_upload(http, server, 20 * MIB)
    answer = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=os.urandom(PART + MIB))
    assert answer.status_code == 204
    assert _bucket_view(seaweedfs, bucket)["multipart"] != {}, "a part was sent"

    assert http.delete(location, headers=TUS).status_code == 204

    assert _bucket_view(seaweedfs, bucket) == {"objects": {}, "multipart": {}}
    assert http.head(location, headers=TUS).status_code == 404


def test_a_chunked_body_too_long_is_refused_and_nothing_of_it_stays(
    s3_server: Callable[..., Server], seaweedfs: SeaweedFS, bucket: str, http: httpx.Client
) -> None:
    server = s3_server()
    location = create_upload(http, server, 6 * MIB)
    upload_id = location.rsplit("/", 1)[1]
    assert http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"a" * MIB).status_code == 204
    before = _bucket_view(seaweedfs, bucket)

    def body() -> Iterator[bytes]:  # no Content-Length: the length shows only as it arrives
        for _ in range(7):
            yield b"b" * MIB

    answer = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": str(MIB)}, content=body())

    assert answer.status_code == 413, answer.text
    assert http.head(location, headers=TUS).headers["Upload-Offset"] == str(MIB)
    assert _bucket_view(seaweedfs, bucket) == before
    assert _object(seaweedfs, bucket, f"media/{upload_id}.tail.0") == b"a" * MIB


def test_a_photo_in_s3_is_processed_its_derivatives_kept_in_the_bucket_replaced_on_reprocess_and_removed_with_it(
    s3_server: Callable[..., Server], seaweedfs: SeaweedFS, bucket: str, http: httpx.Client
) -> None:
    server = s3_server()
    admin = {"Authorization": f"Bearer {make_token(server.data_dir, 'root', admin=True)}"}
    photo = (TESTDATA_MEDIA / "hopper.jpg").read_bytes()
    upload_id = upload_bytes(http, server, photo, "hopper.jpg")

    asset = wait_for_asset(http, server, upload_id)

    assert (asset["status"], asset["width"], asset["height"]) == ("ready", 128, 128), asset
    names = sorted(asset["derivatives"])
    assert _derivative_keys(seaweedfs, bucket, upload_id) == [f"derivatives/{upload_id}/1/{name}" for name in names]
    assert derivatives_on_disk(server.data_dir, upload_id) == ([], []), "nothing of them on local disk"
    first = {name: http.get(url) for name, url in asset["derivatives"].items()}
    assert all(got.status_code == 200 for got in first.values())
    assert first[names[0]].content == _object(seaweedfs, bucket, f"derivatives/{upload_id}/1/{names[0]}")
    assert http.get(asset["download_url"]).content == photo

    assert http.post(f"{server.base_url}/api/assets/{upload_id}/reprocess", headers=admin).status_code == 202
    again = wait_for_asset(http, server, upload_id, statuses=("ready",), timeout=30)
    deadline = time.monotonic() + 10
    while _derivative_keys(seaweedfs, bucket, upload_id) != [f"derivatives/{upload_id}/2/{name}" for name in names]:
        assert time.monotonic() < deadline, _derivative_keys(seaweedfs, bucket, upload_id)
        time.sleep(0.05)
    assert http.get(again["derivatives"][names[0]]).content == first[names[0]].content

    assert http.delete(server.files_url + upload_id, headers=TUS).status_code == 204
    assert _bucket_view(seaweedfs, bucket) == {"objects": {}, "multipart": {}}


def _derivative_keys(seaweedfs: SeaweedFS, bucket: str, upload_id: str) -> list[str]:
    listed = seaweedfs.client().list_objects_v2(Bucket=bucket, Prefix=f"derivatives/{upload_id}/")
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_object_storage_gone_mid_upload_answers_503_and_the_upload_resumes_when_it_is_back(
    seaweedfs: SeaweedFS, bucket: str, server_with: Callable[..., Server], http: httpx.Client
) -> None:
    relay = TcpRelay(int(seaweedfs.endpoint.rsplit(":", 1)[1]))
    settings = {**seaweedfs.settings(bucket), "S3_ENDPOINT_URL": f"http://127.0.0.1:{relay.port}"}
    server = server_with(**settings, S3_PART_SIZE=str(PART))
    data = os.urandom(PART + 2 * MIB)
    location = create_upload(http, server, len(data))
    _patch_all(http, location, data[: PART + MIB], PART + MIB)

    relay.cut()
    try:
        ready = http.get(f"{server.base_url}/readyz")
        head = http.head(location, headers=TUS)
        patch = http.patch(
            location, headers={**TUS, **OCTETS, "Upload-Offset": str(PART + MIB)}, content=data[PART + MIB :]
        )
    finally:
        relay.restore()

    assert ready.status_code == 503 and ready.json()["storage"].startswith("failed: "), ready.text
    assert http.get(f"{server.base_url}/readyz").json()["storage"] == "ok"
    for refused in (head, patch):
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"] == "5"
    assert patch.text.startswith("the object storage failed: ") and patch.text.count("\n") == 1, patch.text
    assert str(relay.port) not in patch.text and "127.0.0.1" not in patch.text, "no address of the storage"
    assert http.head(location, headers=TUS).headers["Upload-Offset"] == str(PART + MIB)
    _patch_all(http, location, data, len(data), offset=PART + MIB)
    assert _object(seaweedfs, bucket, location.rsplit("/", 1)[1]) == data
    relay.cut()


def test_an_ietf_upload_of_unknown_length_completes_in_s3_and_is_processed(
    s3_server: Callable[..., Server], seaweedfs: SeaweedFS, bucket: str, http: httpx.Client
) -> None:
    server = s3_server()
    data = os.urandom(PART + 3 * MIB)  # its length is known only when the last PATCH says it is complete
    draft = {"Upload-Draft-Interop-Version": "6"}
    created = http.post(server.files_url, headers={**draft, "Upload-Complete": "?0"}, content=data[: 4 * MIB])
    assert (created.status_code, created.headers["Upload-Offset"]) == (201, str(4 * MIB)), created.text
    location = created.headers["Location"]

    last = http.patch(
        location,
        headers={
            **draft,
            "Upload-Complete": "?1",
            "Upload-Offset": str(4 * MIB),
            "Content-Type": "application/partial-upload",
        },
        content=data[4 * MIB :],
    )

    assert (last.status_code, last.headers["Upload-Offset"], last.headers["Upload-Complete"]) == (
        204,
        str(len(data)),
        "?1",
    ), last.text
    upload_id = location.rsplit("/", 1)[1]
    assert wait_for_asset(http, server, upload_id)["length"] == len(data)
    assert _object(seaweedfs, bucket, f"media/{upload_id}") == data
    assert _bucket_view(seaweedfs, bucket)["multipart"] == {}


def test_an_expired_upload_leaves_nothing_in_the_bucket(
    s3_server: Callable[..., Server], seaweedfs: SeaweedFS, bucket: str, http: httpx.Client
) -> None:
    server = s3_server(UPLOAD_EXPIRATION="2", CLEANUP_INTERVAL="0.5")
    location = create_upload(http, server, 20 * MIB)
    answer = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=os.urandom(PART + 10))
    assert answer.status_code == 204

    deadline = time.monotonic() + 20
    while _bucket_view(seaweedfs, bucket) != {"objects": {}, "multipart": {}}:
        assert time.monotonic() < deadline, _bucket_view(seaweedfs, bucket)
        time.sleep(0.2)
    assert http.head(location, headers=TUS).status_code == 404


@pytest.mark.anyio
async def test_the_debris_sweep_aborts_unknown_multipart_uploads_and_finishes_cut_short_deletions(
    seaweedfs: SeaweedFS, bucket: str, s3_store_on: Callable[..., S3Store]
) -> None:
    store = s3_store_on(bucket, PART)
    client = seaweedfs.client()
    live, half_deleted, unknown = [await new_upload(store, 20 * MIB) for _ in range(2)] + [new_upload_id()]
    for upload_id in (live, half_deleted):
        await store.append(upload_id, 0, chunks(b"x" * (PART + 5)))  # a part and a tail
    client.put_object(Bucket=bucket, Key=f"{live}.tail.0", Body=b"stale")  # its bytes went into part 1
    client.create_multipart_upload(Bucket=bucket, Key=unknown)  # of no upload the store knows
    client.put_object(Bucket=bucket, Key=f"{half_deleted}.deleting", Body=b"")  # a delete that died here
    try:
        assert await store.remove_debris(older_than_seconds=3600) == [], "nothing is old enough yet"
        assert await store.remove_debris(older_than_seconds=0) == [half_deleted]
        assert await store.offset(live) == PART + 5
    finally:
        await store.close()
    keys = sorted(item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", []))
    assert keys == [f"{live}.info", f"{live}.tail.1"]
    assert [upload["Key"] for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])] == [live]
