"""Uploads as files: ``<id>`` holds the data and ``<id>.info`` a JSON description.

The offset is the data file's size, so a crash can never make the recorded offset disagree with the
bytes. Info files are replaced atomically (write a temp file, then rename).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import os
import secrets
import shutil
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from app.storage import BodyRefused, OffsetMismatch, UploadNotFound
from app.storage.exclusive import held_alone
from app.storage.info_document import decode_info, encode_info
from app.vocabulary import UPLOAD_ID_LENGTH, UploadInfo, is_valid_upload_id

# Request bodies arrive in pieces of tens of KiB. Writing such a piece to the page cache takes
# microseconds, less than handing it to a thread, so small pieces are written inline; only a piece
# this large goes to a thread, so the event loop never stalls on a big copy.
THREAD_WRITE_BYTES = 1024 * 1024
COPY_BUFFER_BYTES = 1024 * 1024
READ_BYTES = 1024 * 1024
# ``<id>.staging-<random>``: a checksummed body waiting for its verdict, never counted in the offset.
STAGING_SUFFIX = ".staging-"
ASSEMBLING_SUFFIX = ".assembling-"
# Parsed info files kept per process, about 1.5 KiB each with their metadata: enough for the uploads
# in progress at once, which are the ones asked about again and again. 4096 of them were 6 MiB.
INFO_CACHE_ENTRIES = 1024


FileIdentity = tuple[int, int, int]  # inode, mtime in ns, size: a new one means a new file


def _identity(stat: os.stat_result) -> FileIdentity:
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


class FileStore:
    # A write cut short can be cut back (``truncate``) at any offset.
    can_truncate = True

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        # Paths as plain strings for the calls every HEAD and PATCH makes: building a Path costs more
        # than the stat it is for.
        self._prefix = os.path.join(directory, "")
        # Parsed info files, each kept with the identity of the file it came from: an info file is
        # only ever replaced by a rename, so a new inode (or mtime, size) means a new description,
        # from this process or any other. A HEAD or PATCH then costs a stat, not an open and a parse.
        self._infos: dict[str, tuple[FileIdentity, UploadInfo]] = {}

    def prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    async def start(self) -> None:
        self.prepare()

    async def close(self) -> None:
        pass

    async def ping(self) -> None:
        if not await asyncio.to_thread(self.directory.is_dir):
            raise FileNotFoundError(f"the upload directory {self.directory} is gone")

    def exclusive_use(self) -> AbstractContextManager[None]:
        """Keep a second server process off this directory while the block runs: locks are
        in-process, so two processes writing one upload would not see each other."""
        self.prepare()
        return held_alone(self.directory)

    def _data_path(self, upload_id: str) -> Path:
        return Path(self._data_file(upload_id))

    def _info_path(self, upload_id: str) -> Path:
        return Path(self._info_file(upload_id))

    def _data_file(self, upload_id: str) -> str:
        if not is_valid_upload_id(upload_id):
            raise UploadNotFound(upload_id)
        return self._prefix + upload_id

    def _info_file(self, upload_id: str) -> str:
        return self._data_file(upload_id) + ".info"

    async def create(self, info: UploadInfo) -> None:
        # In a thread: two files opened and one renamed are system calls the event loop need not wait for.
        identity = await asyncio.to_thread(self._create_files, info)
        # Known already: the first HEAD or PATCH need not read and parse the file just written.
        self._remember(info.id, identity, info)

    def _create_files(self, info: UploadInfo) -> FileIdentity:
        data_path = self._data_path(info.id)
        _create_new(data_path)
        try:
            # Written in place, with no temporary file and rename: nobody knows the new id yet, and a
            # crash mid-write leaves an info file that fails to parse, of an upload no client was told
            # of. Not fsynced: a new upload has nothing yet to lose. After a power cut, one created in
            # the last seconds may be gone (404: the client starts it again); a process crash loses
            # nothing, since the page cache outlives the process. See docs/architecture.md, "Storage".
            return _create_new(self._info_file(info.id), encode_info(info))
        except BaseException:
            data_path.unlink(missing_ok=True)  # no data file without its info
            raise

    def _write_info(self, info: UploadInfo) -> None:
        """Replace the info file whole (a temporary file renamed over it), made durable."""
        path = self._info_path(info.id)
        # A temporary name of its own: two writers (processes too) sharing one would mix or lose their writes.
        temporary = path.with_name(f"{info.id}.info.{os.getpid()}-{next(_temporary_names)}.tmp")
        _create_new(temporary, encode_info(info), durable=True)
        try:
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    async def info(self, upload_id: str) -> UploadInfo:
        path = self._info_file(upload_id)
        try:
            identity = _identity(os.stat(path))
            cached = self._infos.get(upload_id)
            if cached is not None and cached[0] == identity:
                return cached[1]
            info = _read_info(path)
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None
        self._remember(upload_id, identity, info)
        return info

    def _remember(self, upload_id: str, identity: FileIdentity, info: UploadInfo) -> None:
        if len(self._infos) >= INFO_CACHE_ENTRIES:
            del self._infos[next(iter(self._infos))]  # the oldest entry
        self._infos[upload_id] = (identity, info)

    async def update_info(self, info: UploadInfo) -> None:
        await asyncio.to_thread(self._replace_info, info)

    def _replace_info(self, info: UploadInfo) -> None:
        if not self._info_path(info.id).exists():
            raise UploadNotFound(info.id)
        self._write_info(info)

    async def last_write(self, upload_id: str) -> datetime:
        try:
            return datetime.fromtimestamp(os.stat(self._data_file(upload_id)).st_mtime, UTC)
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None

    async def upload_ids(self) -> list[str]:
        return await asyncio.to_thread(_upload_ids, self.directory)

    async def remove_debris(self, older_than_seconds: float) -> list[str]:
        """Remove what a crash or a failed write left behind and nothing touched for
        ``older_than_seconds`` (so nothing a live request of another process is writing): staged
        bodies, temporary info files, half-assembled finals, a data file without its info. An info
        file without its data (a delete cut short) goes too; returns those uploads' ids, which the
        caller forgets as deleted."""
        return await asyncio.to_thread(_remove_debris, self.directory, older_than_seconds)

    async def offset(self, upload_id: str) -> int:
        try:
            return os.stat(self._data_file(upload_id)).st_size
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None

    async def append(self, upload_id: str, offset: int, chunks: AsyncIterator[bytes]) -> int:
        try:
            fd = os.open(self._data_file(upload_id), os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None
        try:
            size = os.fstat(fd).st_size
            if size != offset:
                raise OffsetMismatch(offset, size)
            # Each piece is on disk before the next is read, so a dropped connection keeps all that came.
            await _write_chunks(fd, chunks)
            return os.fstat(fd).st_size
        finally:
            os.close(fd)

    async def append_verified(
        self, upload_id: str, offset: int, chunks: AsyncIterator[bytes], accept: Callable[[], bool]
    ) -> int:
        data_path = self._data_path(upload_id)
        try:
            # Not O_APPEND: copy_file_range refuses an appending target, so the copy names its offset.
            data_fd = os.open(data_path, os.O_WRONLY)
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None
        staging = data_path.with_name(f"{upload_id}{STAGING_SUFFIX}{secrets.token_hex(8)}")
        try:
            size = os.fstat(data_fd).st_size
            if size != offset:
                raise OffsetMismatch(offset, size)
            staging_fd = os.open(staging, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                await _write_chunks(staging_fd, chunks)
                if not accept():
                    raise BodyRefused(upload_id)
                staged = os.fstat(staging_fd).st_size
                await asyncio.to_thread(_copy_range, staging_fd, data_fd, staged, offset)
            finally:
                os.close(staging_fd)
            return os.fstat(data_fd).st_size
        finally:
            os.close(data_fd)
            staging.unlink(missing_ok=True)

    async def truncate(self, upload_id: str, offset: int) -> None:
        try:
            os.truncate(self._data_path(upload_id), offset)
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None

    def open(self, upload_id: str) -> BinaryIO:
        try:
            return open(self._data_path(upload_id), "rb")
        except FileNotFoundError:
            raise UploadNotFound(upload_id) from None

    async def read(self, upload_id: str, start: int, length: int) -> AsyncIterator[bytes]:
        with self.open(upload_id) as source:
            await asyncio.to_thread(source.seek, start)
            remaining = length
            while remaining > 0:
                block = await asyncio.to_thread(source.read, min(READ_BYTES, remaining))
                if not block:
                    break
                remaining -= len(block)
                yield block

    @asynccontextmanager
    async def local_file(self, upload_id: str) -> AsyncIterator[BinaryIO]:
        with self.open(upload_id) as source:
            yield source

    async def concatenate(self, final_id: str, part_ids: list[str]) -> int:
        final_path = self._data_path(final_id)
        part_paths = [self._data_path(part_id) for part_id in part_ids]
        # A name of its own: an assembler whose lock was lost cannot write into another's copy.
        assembling = final_path.with_name(f"{final_id}{ASSEMBLING_SUFFIX}{secrets.token_hex(8)}")
        try:
            await asyncio.to_thread(_join_files, part_paths, assembling)
            # One rename: the final upload goes from empty to complete, never half-assembled.
            os.replace(assembling, final_path)
        except BaseException:
            assembling.unlink(missing_ok=True)
            raise
        return os.stat(final_path).st_size

    async def delete(self, upload_id: str) -> None:
        paths = (self._data_path(upload_id), self._info_path(upload_id))
        self._infos.pop(upload_id, None)
        # In a thread: freeing a large file's blocks can take the file system a while.
        await asyncio.to_thread(_unlink_in_order, paths)


def _unlink_in_order(paths: tuple[Path, ...]) -> None:
    # Data first: an info file left by a crash in between is still listed by upload_ids, so a sweep
    # finds it and finishes the job; a data file left without its info would be invisible.
    for path in paths:
        path.unlink(missing_ok=True)


def _create_new(path: str | Path, data: bytes = b"", durable: bool = False) -> FileIdentity:
    """A file that did not exist, holding ``data`` (fsynced when ``durable``); none if writing fails.
    O_EXCL: a (vanishingly unlikely) name collision fails loudly instead of sharing a file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        _write_all(fd, data)
        if durable:
            os.fsync(fd)
        identity = _identity(os.fstat(fd))
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise
    os.close(fd)
    return identity


# Names for temporary info files, unique within the process (the process id makes them unique beyond).
_temporary_names = itertools.count()


def _read_info(path: str | Path) -> UploadInfo:
    with open(path, "rb") as handle:
        return decode_info(handle.read())


def _join_files(sources: list[Path], target: Path) -> None:
    try:
        with open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as joined:
            for source in sources:
                with open(source, "rb") as part:
                    shutil.copyfileobj(part, joined, COPY_BUFFER_BYTES)
    except FileNotFoundError as missing:
        raise UploadNotFound(Path(str(missing.filename)).name) from None


def _upload_ids(directory: Path) -> list[str]:
    return [path.stem for path in directory.glob("*.info") if is_valid_upload_id(path.stem)]


def _remove_debris(directory: Path, older_than_seconds: float) -> list[str]:
    cutoff = time.time() - older_than_seconds
    entries = {entry.name: entry for entry in os.scandir(directory) if entry.is_file(follow_symlinks=False)}
    orphaned_infos = []
    for name, entry in entries.items():
        upload_id, rest = name[:UPLOAD_ID_LENGTH], name[UPLOAD_ID_LENGTH:]
        if not is_valid_upload_id(upload_id) or entry.stat().st_mtime > cutoff:
            continue
        leftover = rest.startswith((STAGING_SUFFIX, ASSEMBLING_SUFFIX, ".info."))
        data_without_info = rest == "" and f"{upload_id}.info" not in entries
        info_without_data = rest == ".info" and upload_id not in entries
        if leftover or data_without_info or info_without_data:
            Path(entry.path).unlink(missing_ok=True)
        if info_without_data:
            orphaned_infos.append(upload_id)
    return orphaned_infos


async def _write_chunks(fd: int, chunks: AsyncIterator[bytes]) -> None:
    async for chunk in chunks:
        if len(chunk) >= THREAD_WRITE_BYTES:
            await asyncio.to_thread(_write_all, fd, chunk)
        else:
            _write_all(fd, chunk)


def _copy_range(source_fd: int, target_fd: int, count: int, target_offset: int) -> None:
    """Copy ``count`` bytes from the start of ``source_fd`` to ``target_offset`` of ``target_fd``: in
    the kernel where the file system can, through a buffer where it cannot."""
    copied = 0
    try:
        while copied < count:
            step = os.copy_file_range(source_fd, target_fd, count - copied, copied, target_offset + copied)
            if step == 0:
                break
            copied += step
    except OSError as error:
        if error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
        while copied < count:
            block = os.pread(source_fd, min(COPY_BUFFER_BYTES, count - copied), copied)
            if not block:
                break
            view = memoryview(block)
            while view:
                written = os.pwrite(target_fd, view, target_offset + copied)
                copied += written
                view = view[written:]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
