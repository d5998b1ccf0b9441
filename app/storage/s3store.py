"""Uploads in an S3-compatible bucket: one tus upload is one multipart upload, described by an info
object beside it (the layout is in ``app.storage.s3objects``).

Like the filestore, it keeps no counter of its own: every offset is read back from the bucket
(ListParts, page by page, plus the tail), so a crash can never make the offset disagree with the bytes.
Credentials come from the usual AWS variables and files, as botocore finds them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from app.storage import BodyRefused, OffsetMismatch, StorageError, UploadNotFound
from app.storage.exclusive import held_alone
from app.storage.info_document import decode_info, encode_info
from app.storage.s3concat import concatenate
from app.storage.s3debris import remove_debris
from app.storage.s3objects import (
    MAX_PARTS,
    MIN_PART_BYTES,
    Keys,
    Stored,
    find_multipart,
    head,
    is_missing,
    list_keys,
    list_parts,
    multipart_uploads,
    service_errors,
    translated,
)
from app.storage.s3parts import Bucket, PartWriter
from app.storage.spool import Spool
from app.vocabulary import UploadInfo, is_valid_upload_id

READ_BYTES = 1024 * 1024
MIB = 1024 * 1024
LENGTHS_KEPT = 4096


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None


def part_size_for(preferred: int, largest_upload: int) -> int:
    """At least S3's 5 MiB minimum and the preferred size, and large enough that the largest upload
    allowed fits in 10,000 parts; whole MiB."""
    needed = math.ceil(largest_upload / MAX_PARTS)
    return math.ceil(max(preferred, MIN_PART_BYTES, needed) / MIB) * MIB


class S3Store:
    # Bytes sent on as parts cannot be taken back: a body of unknown length is given staged.
    can_truncate = False

    def __init__(self, location: S3Location, part_size: int, spool_dir: Path) -> None:
        self.location = location
        self.part_size = part_size
        self.spool_dir = Path(spool_dir)
        self.keys = Keys(location.prefix)
        self._stack: AsyncExitStack | None = None
        self._bucket: Bucket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Known lengths by upload id: every PATCH needs its upload's, and the protocol has just read the
        # info to check the request, so a second GET of it would be waste.
        self._lengths: dict[str, int] = {}

    # -- the client: one per event loop, opened on first use -------------------------------------

    async def _s3(self) -> Bucket:
        loop = asyncio.get_running_loop()
        if self._bucket is not None and self._loop is loop:
            return self._bucket
        from aiobotocore.config import AioConfig  # imported only where S3 is configured
        from aiobotocore.session import get_session

        config = AioConfig(
            # Path-style works with every S3-compatible server; virtual hosts need DNS for each bucket.
            s3={"addressing_style": "path", "payload_signing_enabled": False},
            # Each body carries our own Content-MD5 (computed in a thread), so botocore need not hash
            # whole parts on the event loop.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            # A request fails within seconds when the service is away: the client hears 503 and resumes.
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            max_pool_connections=64,
        )
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        stack = AsyncExitStack()
        client = await stack.enter_async_context(
            get_session().create_client(
                "s3", endpoint_url=self.location.endpoint_url, region_name=self.location.region, config=config
            )
        )
        self._stack, self._loop = stack, loop
        self._bucket = Bucket(client, self.location.bucket, self.keys, str(self.spool_dir))
        return self._bucket

    async def bucket(self) -> Bucket:
        """The client and bucket, for what keeps other things beside the uploads (derivatives)."""
        return await self._s3()

    async def close(self) -> None:
        if self._stack is not None:
            stack, self._stack, self._bucket = self._stack, None, None
            await stack.aclose()

    @translated
    async def start(self) -> None:
        s3 = await self._s3()
        try:
            await s3.client.head_bucket(Bucket=s3.name)
        except Exception as error:
            if is_missing(error):
                raise StorageError(f"the bucket {s3.name!r} does not exist; create it first (S3_BUCKET)") from None
            raise StorageError(f"the bucket {s3.name!r} cannot be reached: {error}") from None

    @translated
    async def ping(self) -> None:
        """Raises (StorageUnavailable) unless the bucket answers."""
        s3 = await self._s3()
        await s3.client.head_bucket(Bucket=s3.name)

    def exclusive_use(self) -> AbstractContextManager[None]:
        """The same guard as the filestore's, on this machine's spool folder: a second server (or
        ``tusmedia cleanup``) beside this one without shared locks refuses to start. Servers on other
        machines cannot be seen from here: several servers on one bucket need REDIS_URL."""
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        return held_alone(self.spool_dir)

    async def _new_spool(self) -> Spool:
        # After the client: opening it makes the spool folder (a worker never runs start()).
        return Spool((await self._s3()).spool_dir)

    def _checked(self, upload_id: str) -> str:
        if not is_valid_upload_id(upload_id):
            raise UploadNotFound(upload_id)
        return upload_id

    # -- descriptions ----------------------------------------------------------------------------

    @translated
    async def create(self, info: UploadInfo) -> None:
        s3 = await self._s3()
        await s3.client.put_object(Bucket=s3.name, Key=self.keys.info(self._checked(info.id)), Body=encode_info(info))
        self._remember_length(info)

    def _remember_length(self, info: UploadInfo) -> None:
        # Only a known length: it never changes once set, so it holds whoever writes the info later.
        if info.length is not None:
            if len(self._lengths) >= LENGTHS_KEPT:
                del self._lengths[next(iter(self._lengths))]  # the oldest entry
            self._lengths[info.id] = info.length

    async def _length(self, upload_id: str) -> int | None:
        """The upload's length, without reading its info again when this process has seen it."""
        known = self._lengths.get(upload_id)
        return known if known is not None else (await self.info(upload_id)).length

    @translated
    async def info(self, upload_id: str) -> UploadInfo:
        s3 = await self._s3()
        try:
            found = await s3.client.get_object(Bucket=s3.name, Key=self.keys.info(self._checked(upload_id)))
        except Exception as error:
            if is_missing(error):
                raise UploadNotFound(upload_id) from None
            raise
        async with found["Body"] as body:
            info = decode_info(await body.read())
        self._remember_length(info)
        return info

    @translated
    async def update_info(self, info: UploadInfo) -> None:
        s3 = await self._s3()
        if await head(s3.client, s3.name, self.keys.info(self._checked(info.id))) is None:
            raise UploadNotFound(info.id)
        await s3.client.put_object(Bucket=s3.name, Key=self.keys.info(info.id), Body=encode_info(info))
        self._remember_length(info)

    @translated
    async def upload_ids(self) -> list[str]:
        s3 = await self._s3()
        found = await list_keys(s3.client, s3.name, self.keys.prefix)
        named = (self.keys.split(item.key) for item in found)
        return [split[0] for split in named if split is not None and split[1] == ".info"]

    # -- bytes -----------------------------------------------------------------------------------

    async def _stored(self, upload_id: str) -> Stored:
        """The upload's bytes as the bucket holds them; UploadNotFound if it has neither bytes nor info."""
        s3 = await self._s3()
        key = self.keys.data(self._checked(upload_id))
        stored = Stored(multipart=await find_multipart(s3.client, s3.name, key))
        if stored.multipart is not None:
            try:
                stored.parts = await list_parts(s3.client, s3.name, key, stored.multipart)
            except Exception as error:
                if not is_missing(error):
                    raise
                stored = Stored()  # completed (or aborted) since it was listed
        if stored.multipart is None:
            stored.whole = await head(s3.client, s3.name, key)
            if stored.whole is not None:
                return stored
        stored.tail = await head(s3.client, s3.name, self.keys.tail(upload_id, len(stored.parts)))
        nothing_stored = stored.multipart is None and stored.tail is None
        if nothing_stored and await head(s3.client, s3.name, self.keys.info(upload_id)) is None:
            raise UploadNotFound(upload_id)
        return stored

    @translated
    async def offset(self, upload_id: str) -> int:
        return (await self._stored(upload_id)).offset

    @translated
    async def last_write(self, upload_id: str) -> datetime:
        stored = await self._stored(upload_id)
        modified = stored.modified
        if modified is None:
            s3 = await self._s3()
            described = await head(s3.client, s3.name, self.keys.info(upload_id))
            if described is None:
                raise UploadNotFound(upload_id)
            modified = described.modified
        # S3's times are whole seconds, cut down: the end of that second, so nothing expires early.
        return modified + timedelta(seconds=1) if modified.microsecond == 0 else modified

    def _part_size(self, stored: Stored) -> int:
        # An upload keeps the part size it began with, whatever the settings say now.
        return stored.parts[0].size if stored.parts else self.part_size

    @translated
    async def append(self, upload_id: str, offset: int, chunks: AsyncIterator[bytes]) -> int:
        stored = await self._stored(upload_id)
        if stored.offset != offset:
            raise OffsetMismatch(offset, stored.offset)
        if stored.whole is not None:
            raise StorageError(f"upload {upload_id} is complete; nothing can be added")
        length = await self._length(upload_id)
        writer = PartWriter(await self._s3(), upload_id, stored, self._part_size(stored))
        try:
            await writer.start()
            try:
                async for chunk in chunks:
                    await writer.write(chunk)
            finally:
                # Also when the body broke off: what arrived is kept, as the tail.
                if length is not None and writer.offset == length:
                    await writer.complete()
                else:
                    await writer.settle()
            return writer.offset
        finally:
            writer.close()

    @translated
    async def append_verified(
        self, upload_id: str, offset: int, chunks: AsyncIterator[bytes], accept: Callable[[], bool]
    ) -> int:
        stored = await self._stored(upload_id)
        if stored.offset != offset:
            raise OffsetMismatch(offset, stored.offset)
        # Staged on local disk, not in the bucket: it goes to S3 only once accepted.
        staged = await self._new_spool()
        try:
            await staged.fill_from(chunks)
            if not accept():
                raise BodyRefused(upload_id)
            return await self.append(upload_id, offset, staged.chunks(READ_BYTES))
        finally:
            staged.close()

    @translated
    async def truncate(self, upload_id: str, offset: int) -> None:
        if (await self._stored(upload_id)).offset != offset:
            raise StorageError(f"stored bytes of {upload_id} cannot be cut back in S3")

    async def _whole(self, upload_id: str) -> int:
        """The complete object's size. An upload whose bytes are all in but that a crash left
        uncompleted (the last part sent, CompleteMultipartUpload not) is completed here."""
        stored = await self._stored(upload_id)
        if stored.whole is not None:
            return stored.whole.size
        length = await self._length(upload_id)
        if length is None or stored.offset != length:
            raise StorageError(f"upload {upload_id} is not complete ({stored.offset} of {length} bytes)")
        writer = PartWriter(await self._s3(), upload_id, stored, self._part_size(stored))
        try:
            await writer.start()
            try:
                return (await writer.complete()).size
            except Exception as error:
                if is_missing(error):  # another process completed it meanwhile
                    return await self._whole(upload_id)
                raise
        finally:
            writer.close()

    async def read(self, upload_id: str, start: int, length: int) -> AsyncIterator[bytes]:
        with service_errors():
            async for chunk in self._read_whole(upload_id, start, length, await self._whole(upload_id)):
                yield chunk

    async def _read_whole(self, upload_id: str, start: int, length: int, size: int) -> AsyncIterator[bytes]:
        """Up to ``length`` bytes from ``start`` of the complete object of ``size`` bytes."""
        length = min(length, size - start)
        if length <= 0:
            return
        s3 = await self._s3()
        found = await s3.get(self.keys.data(upload_id), f"bytes={start}-{start + length - 1}")
        async for chunk in found.chunks:
            yield chunk

    @asynccontextmanager
    async def local_file(self, upload_id: str) -> AsyncIterator[BinaryIO]:
        with service_errors():
            copy = await self._new_spool()
        try:
            with service_errors():
                size = await self._whole(upload_id)
                await copy.fill_from(self._read_whole(upload_id, 0, size, size))
            yield copy.rewound()
        finally:
            copy.close()

    @translated
    async def concatenate(self, final_id: str, part_ids: list[str]) -> int:
        parts = [(part_id, await self._whole(part_id)) for part_id in part_ids]
        return await concatenate(await self._s3(), self._checked(final_id), parts, self.part_size)

    # -- removal ---------------------------------------------------------------------------------

    @translated
    async def delete(self, upload_id: str) -> None:
        s3 = await self._s3()
        await s3.client.put_object(Bucket=s3.name, Key=self.keys.deleting(self._checked(upload_id)), Body=b"")
        await self._remove_all_of(upload_id)

    async def _remove_all_of(self, upload_id: str) -> None:
        """Bytes, then the description, then the deletion's own marker: cut short anywhere, the
        marker (or the info) is still there for a sweep to finish the job."""
        s3 = await self._s3()
        key = self.keys.data(upload_id)
        for upload in await multipart_uploads(s3.client, s3.name, key):
            if upload["Key"] == key:
                with contextlib.suppress(Exception):
                    await s3.client.abort_multipart_upload(Bucket=s3.name, Key=key, UploadId=upload["UploadId"])
        last = (self.keys.info(upload_id), self.keys.deleting(upload_id))
        objects = [item.key for item in await list_keys(s3.client, s3.name, key) if item.key not in last]
        for name in [*objects, *last]:
            await s3.delete(name)

    @translated
    async def remove_debris(self, older_than_seconds: float) -> list[str]:
        return await remove_debris(await self._s3(), older_than_seconds, self._remove_all_of)


__all__ = ["S3Location", "S3Store", "part_size_for"]
