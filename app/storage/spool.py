"""Bytes gathered on local disk on their way to object storage, so no part is ever held in memory."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from typing import BinaryIO

# As in the filestore: a small piece goes to the page cache inline, faster than a thread hand-off.
THREAD_WRITE_BYTES = 1024 * 1024
HASH_BLOCK_BYTES = 1024 * 1024


class Spool:
    """An unnamed temporary file: it vanishes with its descriptor, also when the process dies."""

    def __init__(self, directory: str | None) -> None:
        self._file: BinaryIO = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - closed by close()
        self.size = 0

    async def write(self, data: bytes | memoryview) -> None:
        if len(data) >= THREAD_WRITE_BYTES:
            await asyncio.to_thread(self._file.write, data)
        else:
            self._file.write(data)
        self.size += len(data)

    async def fill_from(self, chunks: AsyncIterator[bytes]) -> None:
        async for chunk in chunks:
            await self.write(chunk)

    async def content_md5(self) -> str:
        """Base64 of the MD5 digest, as S3's Content-MD5 wants it: the service checks what it got."""
        return await asyncio.to_thread(self._md5)

    def _md5(self) -> str:
        self._file.flush()
        digest = hashlib.md5(usedforsecurity=False)
        fd = self._file.fileno()
        position = 0
        while block := os.pread(fd, HASH_BLOCK_BYTES, position):
            digest.update(block)
            position += len(block)
        return base64.b64encode(digest.digest()).decode()

    async def chunks(self, block_bytes: int = HASH_BLOCK_BYTES) -> AsyncIterator[bytes]:
        """The file from its start, block by block, read in a thread."""
        source = self.rewound()
        while block := await asyncio.to_thread(source.read, block_bytes):
            yield block

    def rewound(self) -> BinaryIO:
        """The file from its start, as a request body (read in the HTTP client's thread pool)."""
        self._file.flush()
        self._file.seek(0)
        return self._file

    def close(self) -> None:
        self._file.close()
