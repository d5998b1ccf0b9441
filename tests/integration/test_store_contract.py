"""The contract every ``UploadStore`` keeps, run against the filestore and the S3 store (on SeaweedFS)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from app.storage import BodyRefused, OffsetMismatch, StorageError, UploadNotFound, UploadStore
from app.storage.filestore import THREAD_WRITE_BYTES, FileStore
from app.vocabulary import UploadInfo, new_upload_id
from tests.s3_service import SeaweedFS
from tests.store_bodies import Dropped, chunks, dropping_after, new_upload

pytestmark = pytest.mark.anyio
MIB = 1024 * 1024
PART = 5 * MIB  # the smallest part S3 takes, so the S3 store's tests cross part boundaries quickly


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Backend:
    """A store under test, and a look at everything it keeps, by name."""

    def __init__(self, store: UploadStore, names: Callable[[], list[str]]) -> None:
        self.store = store
        self._names = names

    def names(self) -> list[str]:
        return sorted(self._names())


@pytest.fixture(params=["file", "s3"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "file":
        filestore = FileStore(tmp_path / "uploads")
        await filestore.start()
        yield Backend(filestore, lambda: [path.name for path in (tmp_path / "uploads").iterdir()])
        return
    seaweedfs: SeaweedFS = request.getfixturevalue("seaweedfs")
    bucket = seaweedfs.new_bucket()
    s3store = request.getfixturevalue("s3_store_on")(bucket, PART, "uploads/")
    await s3store.start()
    client = seaweedfs.client()

    def names() -> list[str]:
        listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        pending = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        return [item["Key"].removeprefix("uploads/") for item in listed] + [
            f"multipart:{upload['Key'].removeprefix('uploads/')}" for upload in pending
        ]

    yield Backend(s3store, names)
    await s3store.close()
    assert list((tmp_path / "spool").iterdir()) == [], "spooled parts are never left on disk"


async def _contents(store: UploadStore, upload_id: str) -> bytes:
    return b"".join([chunk async for chunk in store.read(upload_id, 0, await store.offset(upload_id))])


async def test_created_upload_has_its_info_and_offset_zero(backend: Backend) -> None:
    upload_id = await new_upload(backend.store, 100, filename="a.jpg")

    info = await backend.store.info(upload_id)

    assert (info.length, info.owner, info.metadata) == (100, "alice", {"filename": "a.jpg"})
    assert await backend.store.offset(upload_id) == 0


async def test_append_writes_at_offset_and_returns_new_offset(backend: Backend) -> None:
    store = backend.store
    upload_id = await new_upload(store, 6)

    assert await store.append(upload_id, 0, chunks(b"ab", b"cd")) == 4
    assert await store.append(upload_id, 4, chunks(b"ef")) == 6

    assert await _contents(store, upload_id) == b"abcdef"


async def test_append_at_wrong_offset_is_refused_and_writes_nothing(backend: Backend) -> None:
    store = backend.store
    upload_id = await new_upload(store)
    await store.append(upload_id, 0, chunks(b"ab"))

    with pytest.raises(OffsetMismatch):
        await store.append(upload_id, 1, chunks(b"zz"))

    assert await store.offset(upload_id) == 2


@pytest.mark.parametrize("piece_size", [7, 65536, THREAD_WRITE_BYTES + 7, 2 * MIB + 3])
async def test_interrupted_append_keeps_every_byte_received(backend: Backend, piece_size: int) -> None:
    store = backend.store
    upload_id = await new_upload(store, 12 * piece_size)
    parts = [bytes([index]) * piece_size for index in range(3)]

    with pytest.raises(Dropped):
        await store.append(upload_id, 0, dropping_after(*parts))
    received = b"".join(parts)
    assert await store.offset(upload_id) == len(received)
    await store.append(upload_id, len(received), chunks(received * 3))

    assert await _contents(store, upload_id) == received * 4


@pytest.mark.parametrize("chunk", [1 * MIB, 3 * MIB + 1, 7 * MIB])
async def test_appends_of_any_size_across_parts_keep_every_byte_in_order(backend: Backend, chunk: int) -> None:
    store = backend.store
    data = bytes(range(256)) * (19 * MIB // 256) + b"end"
    upload_id = await new_upload(store, len(data))
    offset = 0
    while offset < len(data):
        offset = await store.append(upload_id, offset, chunks(data[offset : offset + chunk]))
        assert offset == await store.offset(upload_id)

    assert await _contents(store, upload_id) == data
    assert b"".join([piece async for piece in store.read(upload_id, PART - 2, 5)]) == data[PART - 2 : PART + 3]
    async with store.local_file(upload_id) as local:
        local.seek(len(data) - 3)
        assert local.read() == b"end"


async def test_an_empty_upload_is_complete_and_reads_as_nothing(backend: Backend) -> None:
    upload_id = await new_upload(backend.store, 0)

    assert await backend.store.offset(upload_id) == 0
    assert await _contents(backend.store, upload_id) == b""


async def test_truncate_cuts_back_where_the_store_says_it_can_and_else_refuses_and_keeps_every_byte(
    backend: Backend,
) -> None:
    store = backend.store
    upload_id = await new_upload(store, 6)
    await store.append(upload_id, 0, chunks(b"abcdef"))

    await store.truncate(upload_id, 6)  # back to where the write began: every store takes this
    assert await store.offset(upload_id) == 6
    if store.can_truncate:
        await store.truncate(upload_id, 2)
        assert await store.offset(upload_id) == 2
    else:
        with pytest.raises(StorageError):
            await store.truncate(upload_id, 2)
        assert await _contents(store, upload_id) == b"abcdef"


async def test_delete_removes_everything_of_the_upload(backend: Backend) -> None:
    store = backend.store
    kept = await new_upload(store, 10)
    upload_id = await new_upload(store, 20 * MIB)
    await store.append(upload_id, 0, chunks(b"x" * (PART + 10)))  # one part and a tail

    await store.delete(upload_id)

    with pytest.raises(UploadNotFound):
        await store.info(upload_id)
    with pytest.raises(UploadNotFound):
        await store.offset(upload_id)
    assert all(kept in name for name in backend.names())
    assert await store.upload_ids() == [kept]


@pytest.mark.parametrize("upload_id", ["../../etc/passwd", "AAAAAAAAAAAAAAAAAAAAAA/..", "", "a" * 23, "A" * 21 + "."])
async def test_ids_that_could_name_another_path_are_unknown(backend: Backend, upload_id: str) -> None:
    with pytest.raises(UploadNotFound):
        await backend.store.offset(upload_id)
    with pytest.raises(UploadNotFound):
        await backend.store.append(upload_id, 0, chunks(b"x"))


async def test_updating_info_replaces_it(backend: Backend) -> None:
    store = backend.store
    upload_id = await new_upload(store, None, filename="a.jpg")

    await store.update_info(UploadInfo(id=upload_id, length=7, owner="alice", metadata={"filename": "b.jpg"}))

    assert ((await store.info(upload_id)).length, (await store.info(upload_id)).metadata) == (7, {"filename": "b.jpg"})
    with pytest.raises(UploadNotFound):
        await store.update_info(UploadInfo(id=new_upload_id(), length=7, owner="alice", metadata={}))


@pytest.mark.parametrize("piece_size", [10, THREAD_WRITE_BYTES, 3 * MIB])
async def test_a_verified_append_joins_the_upload_only_when_accepted(backend: Backend, piece_size: int) -> None:
    store = backend.store
    upload_id = await new_upload(store, length=10 * piece_size)
    await store.append(upload_id, 0, chunks(b"head"))
    body = b"v" * piece_size

    with pytest.raises(BodyRefused):
        await store.append_verified(upload_id, 4, chunks(body, body), accept=lambda: False)
    assert await store.offset(upload_id) == 4
    accepted = await store.append_verified(upload_id, 4, chunks(body, body), accept=lambda: True)

    assert accepted == 4 + 2 * piece_size == await store.offset(upload_id)
    await store.append(upload_id, accepted, chunks(b"z" * (10 * piece_size - accepted)))
    assert (await _contents(store, upload_id))[: accepted + 1] == b"head" + body + body + b"z"


async def test_a_verified_append_cut_off_leaves_the_upload_as_it_was(backend: Backend) -> None:
    store = backend.store
    upload_id = await new_upload(store)
    await store.append(upload_id, 0, chunks(b"head"))
    before = backend.names()

    with pytest.raises(Dropped):
        await store.append_verified(upload_id, 4, dropping_after(b"unverified"), accept=lambda: True)

    assert await store.offset(upload_id) == 4
    assert backend.names() == before


@pytest.mark.parametrize("sizes", [[3, 0, 5], [PART, PART + 1, 2], [PART + 7, 11]])
async def test_concatenation_joins_complete_parts_in_order(backend: Backend, sizes: list[int]) -> None:
    store = backend.store
    parts, expected = [], b""
    for index, size in enumerate(sizes):
        data = bytes([65 + index]) * size
        part = await new_upload(store, size)
        await store.append(part, 0, chunks(data))
        parts.append(part)
        expected += data
    final = await new_upload(store, None)

    assert await store.concatenate(final, parts) == len(expected)

    assert await store.offset(final) == len(expected)
    assert await _contents(store, final) == expected
    assert await _contents(store, parts[0]) == b"A" * sizes[0], "the parts stay as they were"


async def test_debris_sweep_keeps_live_uploads(backend: Backend) -> None:
    store = backend.store
    live = await new_upload(store)
    await store.append(live, 0, chunks(b"live bytes"))

    assert await store.remove_debris(older_than_seconds=3600) == []
    assert await store.remove_debris(older_than_seconds=0) == []

    assert await store.offset(live) == 10
    assert await store.upload_ids() == [live]
