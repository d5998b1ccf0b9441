"""Two ways to honour ``Upload-Checksum`` on a PATCH, timed on the real filestore.

* **write then truncate** (what tusmedia did first): bytes go to the upload's data file as they
  arrive, hashed on the way; on a mismatch the file is cut back to where the request started. A
  crash before the cut leaves unverified bytes in the upload.
* **stage then append** (what tusmedia does, ``FileStore.append_verified``): bytes go to a staging
  file beside the upload, hashed on the way; only when the digest matches are they copied onto the
  end of the data file (``copy_file_range``, in the kernel). No crash can leave unverified bytes.
* **stage, buffered copy**: the same with the copy read back through Python in 1 MiB blocks, the
  baseline the kernel copy is measured against.

The script also times plain appends without a checksum, so the cost of hashing itself is visible.
Bodies arrive in 64 KiB pieces, as uvicorn hands them over.

    python benchmarks/checksum_strategies.py [--chunk-mib 8] [--chunks 64] [--algorithm sha256]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import tempfile
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from app.storage.filestore import FileStore
from app.vocabulary import UploadInfo, new_upload_id

PIECE_BYTES = 64 * 1024
MIB = 1024 * 1024
MB = 1_000_000


def _hasher(algorithm: str) -> Callable[[], object]:
    if algorithm == "crc32":

        class Crc32:
            value = 0

            def update(self, data: bytes) -> None:
                self.value = zlib.crc32(data, self.value)

        return Crc32
    return lambda: hashlib.new(algorithm)


async def _pieces(chunk: bytes, hasher: object | None) -> AsyncIterator[bytes]:
    view = memoryview(chunk)
    for start in range(0, len(chunk), PIECE_BYTES):
        piece = bytes(view[start : start + PIECE_BYTES])
        if hasher is not None:
            hasher.update(piece)  # type: ignore[attr-defined]
        yield piece


async def plain(store: FileStore, upload_id: str, offset: int, chunk: bytes, algorithm: str) -> int:
    return await store.append(upload_id, offset, _pieces(chunk, None))


async def write_then_truncate(store: FileStore, upload_id: str, offset: int, chunk: bytes, algorithm: str) -> int:
    hasher = _hasher(algorithm)()
    # The happy path: digest computed on the way, bytes stay. A mismatch would add one truncate().
    return await store.append(upload_id, offset, _pieces(chunk, hasher))


async def stage_then_append(store: FileStore, upload_id: str, offset: int, chunk: bytes, algorithm: str) -> int:
    hasher = _hasher(algorithm)()
    return await store.append_verified(upload_id, offset, _pieces(chunk, hasher), accept=lambda: True)


async def stage_buffered_copy(store: FileStore, upload_id: str, offset: int, chunk: bytes, algorithm: str) -> int:
    hasher = _hasher(algorithm)()
    with tempfile.NamedTemporaryFile(dir=store.directory, delete=True) as staged:
        async for piece in _pieces(chunk, hasher):
            staged.write(piece)
        staged.flush()
        staged.seek(0)

        async def copied() -> AsyncIterator[bytes]:
            while block := await asyncio.to_thread(staged.read, MIB):
                yield block

        return await store.append(upload_id, offset, copied())


Strategy = Callable[[FileStore, str, int, bytes, str], Awaitable[int]]


async def measure(strategy: Strategy, chunk: bytes, chunks: int, algorithm: str, directory: Path) -> float:
    store = FileStore(directory)
    store.prepare()
    upload_id = new_upload_id()
    await store.create(UploadInfo(id=upload_id, length=len(chunk) * chunks, owner="bench"))
    started = time.perf_counter()
    offset = 0
    for _ in range(chunks):
        offset = await strategy(store, upload_id, offset, chunk, algorithm)
    elapsed = time.perf_counter() - started
    await store.delete(upload_id)
    return len(chunk) * chunks / elapsed / MB


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunk-mib", type=int, default=8)
    parser.add_argument("--chunks", type=int, default=64)
    parser.add_argument("--algorithm", default="sha256", choices=["sha1", "sha256", "sha512", "md5", "crc32"])
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    chunk = os.urandom(arguments.chunk_mib * MIB)
    strategies: list[tuple[str, Strategy]] = [
        ("no checksum", plain),
        ("write then truncate", write_then_truncate),
        ("stage then append", stage_then_append),
        ("stage, buffered copy", stage_buffered_copy),
    ]
    directory = Path(tempfile.mkdtemp(prefix="tusmedia-checksum-"))
    try:
        print(
            f"{arguments.chunks} PATCHes of {arguments.chunk_mib} MiB, {arguments.algorithm}, "
            f"best of {arguments.repeat}; MB = 10**6 bytes"
        )
        for name, strategy in strategies:
            best = max(
                [
                    await measure(strategy, chunk, arguments.chunks, arguments.algorithm, directory)
                    for _ in range(arguments.repeat)
                ]
            )
            print(f"{name:22s} {best:8.1f} MB/s")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
