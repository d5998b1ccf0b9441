"""One server process per folder, where locks are in-process: an flock the kernel releases even on kill -9."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.storage import DirectoryInUse


@contextmanager
def held_alone(directory: Path) -> Iterator[None]:
    path = directory / ".server.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DirectoryInUse(directory) from None
    try:
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock, also when the process dies
