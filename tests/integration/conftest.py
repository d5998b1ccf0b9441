"""Fixtures for tests that need more than a server: the local Redis, a file system that fills up."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import REDIS_TEST_URL, require_service


def _redis_answers() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_TEST_URL, socket_timeout=2).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def redis_settings() -> Iterator[dict[str, str]]:
    require_service("Redis", _redis_answers())
    # A queue of our own, so no other run's messages or workers meet ours.
    namespace = f"tusmedia-test-{uuid.uuid4().hex[:12]}"
    yield {"REDIS_URL": REDIS_TEST_URL, "QUEUE_NAMESPACE": namespace}
    connection = redis.Redis.from_url(REDIS_TEST_URL)
    for key in connection.scan_iter(f"dramatiq:{namespace}*"):
        connection.delete(key)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB file system, so the disk really fills up."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs for the full-disk test: {mounted.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
