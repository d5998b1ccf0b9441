"""Streaming bytes into one upload's multipart upload, a part at a time, through a bounded local spool."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.storage import StorageError
from app.storage.s3objects import MAX_PARTS, Keys, Part, Stored, StoredObject
from app.storage.spool import Spool

DOWNLOAD_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Bucket:
    """A client, the bucket, how keys are named, and where parts are spooled: what writers share."""

    client: Any
    name: str
    keys: Keys
    spool_dir: str | None

    async def delete(self, key: str) -> None:
        await self.client.delete_object(Bucket=self.name, Key=key)

    async def get(self, key: str, byte_range: str | None = None) -> Fetched:
        """An object (or ``bytes=first-last`` of it), its body streamed as it is read."""
        ranged = {"Range": byte_range} if byte_range else {}
        found = await self.client.get_object(Bucket=self.name, Key=key, **ranged)

        async def chunks() -> AsyncIterator[bytes]:
            async with found["Body"] as body:
                async for chunk in body.iter_chunks(DOWNLOAD_BYTES):
                    yield chunk

        return Fetched(found["ContentLength"], found.get("ContentType"), chunks())


@dataclass(frozen=True)
class Fetched:
    size: int
    media_type: str | None
    chunks: AsyncIterator[bytes]


class PartWriter:
    """Appends to one upload. Every ``part_size`` bytes gathered become the next part; whatever is
    left when the body ends becomes the tail (``settle``), or, once the upload has all its bytes, the
    last part of the completed object (``complete``). Parts are all ``part_size`` but
    the last, since some S3 services refuse unequal ones."""

    def __init__(self, bucket: Bucket, upload_id: str, stored: Stored, part_size: int) -> None:
        self.bucket = bucket
        self.upload_id = upload_id
        self.key = bucket.keys.data(upload_id)
        self.part_size = part_size
        self.multipart = stored.multipart
        self.parts = list(stored.parts)
        # The stored tail is read back into the spool first: its bytes begin the next part.
        self._old_tail = stored.tail
        self._spool: Spool | None = None
        self._gathered_new = False

    async def start(self) -> None:
        if self._old_tail is not None:
            await self._take_spool().fill_from((await self.bucket.get(self._old_tail.key)).chunks)

    @property
    def offset(self) -> int:
        return sum(part.size for part in self.parts) + (self._spool.size if self._spool else 0)

    async def write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            spool = self._take_spool()
            room = self.part_size - spool.size
            await spool.write(view[:room])
            view = view[room:]
            self._gathered_new = True
            if spool.size == self.part_size:
                await self._upload_part()

    async def settle(self) -> None:
        """Store what was gathered and is not yet a part, as the tail."""
        spool = self._spool
        if spool is None or spool.size == 0 or not self._gathered_new:
            return  # nothing new since the stored tail (or a part boundary)
        tail = self.bucket.keys.tail(self.upload_id, len(self.parts))
        await self._put(tail, spool)
        # Same N: the new tail replaced the old in one PUT. A new N: the old tail went into a part.

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def _take_spool(self) -> Spool:
        if self._spool is None:
            self._spool = Spool(self.bucket.spool_dir)
        return self._spool

    async def _upload_part(self) -> None:
        spool = self._take_spool()
        number = len(self.parts) + 1
        if number > MAX_PARTS:
            raise StorageError(f"upload {self.upload_id} would need more than {MAX_PARTS} parts of {self.part_size}")
        if self.multipart is None:
            started = await self.bucket.client.create_multipart_upload(Bucket=self.bucket.name, Key=self.key)
            self.multipart = started["UploadId"]
        uploaded = await self.bucket.client.upload_part(
            Bucket=self.bucket.name,
            Key=self.key,
            UploadId=self.multipart,
            PartNumber=number,
            Body=spool.rewound(),
            ContentLength=spool.size,
            ContentMD5=await spool.content_md5(),
        )
        self.parts.append(Part(number, spool.size, uploaded["ETag"], datetime.now(UTC)))
        spool.close()
        self._spool = None
        await self._forget_old_tail()

    async def complete(self) -> StoredObject:
        """The upload has all its bytes: what was gathered ends the finished object, returned."""
        size = self.offset
        spool = self._spool
        if self.multipart is None:
            # Never reached a part: the object in one PUT, with no multipart upload at all.
            await self._put(self.key, self._take_spool())
        else:
            if spool is not None and spool.size > 0:
                await self._upload_part()  # the last part may be short
            await self.bucket.client.complete_multipart_upload(
                Bucket=self.bucket.name,
                Key=self.key,
                UploadId=self.multipart,
                MultipartUpload={"Parts": [{"PartNumber": part.number, "ETag": part.etag} for part in self.parts]},
            )
        await self._forget_old_tail()
        return StoredObject(self.key, size, datetime.now(UTC))

    async def _put(self, key: str, spool: Spool) -> None:
        await self.bucket.client.put_object(
            Bucket=self.bucket.name,
            Key=key,
            Body=spool.rewound(),
            ContentLength=spool.size,
            ContentMD5=await spool.content_md5(),
        )

    async def _forget_old_tail(self) -> None:
        """Its bytes are in a part or the object now. Deleted after, never before: a crash in between
        leaves a tail no longer named after the part count, which counts for nothing."""
        if self._old_tail is not None:
            old, self._old_tail = self._old_tail, None
            with contextlib.suppress(Exception):
                await self.bucket.delete(old.key)
