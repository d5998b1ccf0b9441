"""Fixtures for tests that need the local Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

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
