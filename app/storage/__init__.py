"""Bytes at rest behind one small interface. Nothing here knows about HTTP.

Errors::

    StorageError
    ├── UploadNotFound      no upload with that id
    ├── OffsetMismatch      a write did not start where the data ends
    ├── BodyRefused         a staged body was not accepted (its checksum did not match)
    ├── DirectoryInUse      another server process already serves this upload directory
    └── StorageUnavailable  the object storage did not answer, or refused what it should take
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from datetime import datetime
from typing import BinaryIO, Protocol

from app.vocabulary import UploadInfo


class StorageError(Exception):
    pass


class UploadNotFound(StorageError):
    def __init__(self, upload_id: str) -> None:
        super().__init__(f"no upload {upload_id}")
        self.upload_id = upload_id


class OffsetMismatch(StorageError):
    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"write at offset {expected} but the data ends at {actual}")
        self.expected = expected
        self.actual = actual


class BodyRefused(StorageError):
    def __init__(self, upload_id: str) -> None:
        super().__init__(f"the staged body for {upload_id} was refused; the upload is unchanged")


class DirectoryInUse(StorageError):
    def __init__(self, directory: object) -> None:
        super().__init__(
            f"another tusmedia server process already serves {directory}. Upload locks are per process, so "
            "a second server on the same directory could corrupt uploads; run one server process per "
            "upload directory (see docs/deployment.md)"
        )


class StorageUnavailable(StorageError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"the object storage failed: {reason}")


class UploadStore(Protocol):
    # Whether ``truncate`` can cut back to any offset. A store that cannot (bytes already sent on to
    # object storage) is given an undeclared-length body staged, so a refused one never joins.
    can_truncate: bool

    async def start(self) -> None:
        """Be ready for use: a missing folder made, a missing bucket reported (StorageError)."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise unless the store can be reached now (for readiness)."""
        ...

    def exclusive_use(self) -> AbstractContextManager[None]:
        """Keep a second server off this store while the block runs (DirectoryInUse), where it can tell:
        without shared locks, two servers writing one upload would not see each other."""
        ...

    async def create(self, info: UploadInfo) -> None: ...

    async def info(self, upload_id: str) -> UploadInfo: ...

    async def update_info(self, info: UploadInfo) -> None:
        """Replace an existing upload's info, atomically."""
        ...

    async def last_write(self, upload_id: str) -> datetime:
        """When bytes were last written (or the upload was created), for expiration."""
        ...

    async def upload_ids(self) -> list[str]:
        """Every upload in the store, for clean-up sweeps."""
        ...

    async def offset(self, upload_id: str) -> int:
        """How many bytes are stored: always the truth on disk, never a separately kept counter."""
        ...

    async def append(self, upload_id: str, offset: int, chunks: AsyncIterator[bytes]) -> int:
        """Write ``chunks`` at ``offset`` as they arrive and return the new offset.

        If ``chunks`` raises (a dropped connection), what arrived before stays written and the
        exception propagates.
        """
        ...

    async def append_verified(
        self, upload_id: str, offset: int, chunks: AsyncIterator[bytes], accept: Callable[[], bool]
    ) -> int:
        """Like ``append``, but the body is staged beside the upload and joins it only if ``accept()``
        says so once the body has ended; else BodyRefused. A body that ends early, or a crash, leaves
        the upload as it was: no unverified byte is ever part of it (or of its offset)."""
        ...

    async def truncate(self, upload_id: str, offset: int) -> None:
        """Cut the data back to ``offset``: undoes a refused write."""
        ...

    def read(self, upload_id: str, start: int, length: int) -> AsyncIterator[bytes]:
        """Up to ``length`` bytes from ``start`` of a complete upload, streamed as they are read."""
        ...

    def local_file(self, upload_id: str) -> AbstractAsyncContextManager[BinaryIO]:
        """A complete upload as a seekable local file with a descriptor, for decoders (and processes)
        that need one; gone when the block ends."""
        ...

    async def remove_debris(self, older_than_seconds: float) -> list[str]:
        """Remove what crashes left (staged bodies, temporary files, halves of a create or delete)
        that nothing touched for ``older_than_seconds``; returns the ids of uploads found half
        deleted, which are gone now."""
        ...

    async def concatenate(self, final_id: str, part_ids: list[str]) -> int:
        """Make the final upload's data the parts' data, in order, all at once; returns its size."""
        ...

    async def delete(self, upload_id: str) -> None: ...


__all__ = [
    "BodyRefused",
    "DirectoryInUse",
    "OffsetMismatch",
    "StorageError",
    "StorageUnavailable",
    "UploadNotFound",
    "UploadStore",
]
