"""The filestore's own promises, beyond the contract every store keeps (tests/integration/test_store_contract.py):
what files it leaves, and how it shares a folder with other processes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from app.storage import BodyRefused, UploadNotFound, UploadStore
from app.storage.filestore import THREAD_WRITE_BYTES, FileStore
from app.vocabulary import UploadInfo, new_upload_id
from tests.store_bodies import Dropped, chunks, dropping_after, new_upload

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def store(tmp_path: Path) -> UploadStore:
    filestore = FileStore(tmp_path / "uploads")
    filestore.prepare()
    return filestore


async def test_truncate_cuts_back_to_an_offset(store: UploadStore) -> None:
    upload_id = await new_upload(store)
    await store.append(upload_id, 0, chunks(b"abcdef"))

    await store.truncate(upload_id, 2)

    assert await store.offset(upload_id) == 2


async def test_delete_removes_data_and_info(store: UploadStore, tmp_path: Path) -> None:
    upload_id = await new_upload(store)

    await store.delete(upload_id)

    with pytest.raises(UploadNotFound):
        await store.info(upload_id)
    assert list((tmp_path / "uploads").iterdir()) == []


async def test_creating_and_updating_info_leaves_only_the_data_and_info_files(
    store: UploadStore, tmp_path: Path
) -> None:
    upload_id = await new_upload(store, filename="a.jpg")

    await store.update_info(UploadInfo(id=upload_id, length=7, owner="alice", metadata={"filename": "b.jpg"}))

    assert sorted(path.name for path in (tmp_path / "uploads").iterdir()) == [upload_id, f"{upload_id}.info"]
    assert ((await store.info(upload_id)).length, (await store.info(upload_id)).metadata) == (7, {"filename": "b.jpg"})


def test_writers_racing_on_one_info_file_never_share_a_temp_file(store: UploadStore, tmp_path: Path) -> None:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    upload_id = asyncio.run(new_upload(store))
    versions = [UploadInfo(id=upload_id, length=100, owner="alice", metadata={"n": str(n)}) for n in range(200)]

    def write(info: UploadInfo) -> None:
        asyncio.run(store.update_info(info))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, versions))  # re-raises the first failure, if any

    assert asyncio.run(store.info(upload_id)) in versions
    assert sorted(path.name for path in (tmp_path / "uploads").iterdir()) == [upload_id, f"{upload_id}.info"]


async def test_an_info_write_that_fails_leaves_the_old_info_and_no_temp_file(
    store: UploadStore, tmp_path: Path
) -> None:
    upload_id = await new_upload(store, filename="a.jpg")
    unwritable = UploadInfo(id=upload_id, length=7, owner="alice", metadata={"filename": object()})  # type: ignore[dict-item]

    with pytest.raises(TypeError):
        await store.update_info(unwritable)

    assert (await store.info(upload_id)).metadata == {"filename": "a.jpg"}
    assert sorted(path.name for path in (tmp_path / "uploads").iterdir()) == [upload_id, f"{upload_id}.info"]


@pytest.mark.parametrize("piece_size", [10, THREAD_WRITE_BYTES])
async def test_a_verified_append_joins_the_upload_only_when_accepted(
    store: UploadStore, tmp_path: Path, piece_size: int
) -> None:
    upload_id = await new_upload(store, length=10 * THREAD_WRITE_BYTES)
    await store.append(upload_id, 0, chunks(b"head"))
    body = b"v" * piece_size

    refused = store.append_verified(upload_id, 4, chunks(body, body), accept=lambda: False)
    with pytest.raises(BodyRefused):
        await refused
    accepted = await store.append_verified(upload_id, 4, chunks(body, body), accept=lambda: True)

    assert accepted == 4 + 2 * piece_size
    assert (tmp_path / "uploads" / upload_id).read_bytes() == b"head" + body + body
    assert sorted(path.name for path in (tmp_path / "uploads").iterdir()) == [upload_id, f"{upload_id}.info"]


async def test_a_verified_append_cut_off_leaves_the_upload_and_no_staging(store: UploadStore, tmp_path: Path) -> None:
    upload_id = await new_upload(store)
    await store.append(upload_id, 0, chunks(b"head"))

    with pytest.raises(Dropped):
        await store.append_verified(upload_id, 4, dropping_after(b"unverified"), accept=lambda: True)

    assert await store.offset(upload_id) == 4
    assert sorted(path.name for path in (tmp_path / "uploads").iterdir()) == [upload_id, f"{upload_id}.info"]


async def test_debris_sweep_keeps_live_uploads_and_fresh_files(store: UploadStore, tmp_path: Path) -> None:
    live = await new_upload(store)
    half_deleted = await new_upload(store)
    uploads = tmp_path / "uploads"
    (uploads / half_deleted).unlink()
    staged = uploads / f"{live}.staging-00"
    staged.write_bytes(b"x")

    assert await store.remove_debris(older_than_seconds=3600) == [], "nothing is old enough yet"
    assert staged.exists()
    assert await store.remove_debris(older_than_seconds=0) == [half_deleted]

    assert sorted(path.name for path in uploads.iterdir()) == [live, f"{live}.info"]


async def test_an_info_replaced_by_another_process_is_seen_at_once(tmp_path: Path) -> None:
    ours, theirs = FileStore(tmp_path / "uploads"), FileStore(tmp_path / "uploads")
    ours.prepare()
    upload_id = new_upload_id()
    await ours.create(UploadInfo(id=upload_id, length=None, owner="alice", metadata={"filename": "a"}))
    assert (await ours.info(upload_id)).length is None  # now held parsed by ours

    before = await theirs.info(upload_id)
    await theirs.update_info(dataclasses.replace(before, length=10))

    assert (await ours.info(upload_id)).length == 10
    await theirs.delete(upload_id)
    with pytest.raises(UploadNotFound):
        await ours.info(upload_id)
