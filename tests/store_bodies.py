"""Request bodies and uploads for tests that drive an upload store directly."""

from __future__ import annotations

from collections.abc import AsyncIterator

from app.storage import UploadStore
from app.vocabulary import UploadInfo, new_upload_id


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


class Dropped(Exception):
    """The client went away mid-body."""


async def dropping_after(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    raise Dropped


async def new_upload(store: UploadStore, length: int | None = 100, **metadata: str) -> str:
    upload_id = new_upload_id()
    await store.create(UploadInfo(id=upload_id, length=length, owner="alice", metadata=metadata, created_at="t"))
    return upload_id
