"""Fixtures for tests that need more than a server: the local Redis, RabbitMQ and PostgreSQL, a file system
that fills up."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pika
import pytest
import redis
from databases import Database

from app.db import open_database
from app.observability.queues import queue_depths
from config import load_settings
from tests.conftest import REDIS_TEST_URL, require_service
from tests.database_choice import POSTGRES_TEST_URL
from workers.broker import create_broker


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


RABBITMQ_TEST_URL = os.environ.get("RABBITMQ_TEST_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def _rabbitmq_answers() -> bool:
    try:
        pika.BlockingConnection(pika.URLParameters(RABBITMQ_TEST_URL)).close()
    except pika.exceptions.AMQPError:
        return False
    return True


def queue_depths_of(settings: dict[str, str], queue: str) -> tuple[int, int]:
    """(waiting, delayed) messages of one of our queues (``media``, ``webhooks``) on the broker of
    ``settings``, asked as the metrics ask (``queue_depths``): a message a worker holds is in neither."""
    broker = create_broker(load_settings(env_file=None, environ=settings))
    try:
        depths = queue_depths(broker, f"{settings['QUEUE_NAMESPACE']}.{queue}")
    finally:
        broker.close()
    assert depths is not None, "a broker that reports its depths"
    return depths


@pytest.fixture
def rabbitmq_settings() -> Iterator[dict[str, str]]:
    require_service("RabbitMQ", _rabbitmq_answers())
    namespace = f"tusmedia-test-{uuid.uuid4().hex[:12]}"
    yield {"BROKER_URL": RABBITMQ_TEST_URL, "QUEUE_NAMESPACE": namespace}
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_TEST_URL))
    try:
        channel = connection.channel()
        for queue in ("media", "webhooks"):
            for suffix in ("", ".DQ", ".XQ"):
                channel.queue_delete(f"{namespace}.{queue}{suffix}")
    finally:
        connection.close()


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_settings(request: pytest.FixtureRequest) -> dict[str, str]:
    """The settings of a separate-worker deployment, on each broker in turn."""
    return dict(request.getfixturevalue(f"{request.param}_settings"))


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


async def _postgres_answers() -> bool:
    try:
        connection = await asyncpg.connect(POSTGRES_TEST_URL, timeout=3)
    except (OSError, asyncpg.PostgresError):
        return False
    await connection.close()
    return True


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        connected = open_database(f"sqlite:///{tmp_path / 'test.db'}")
        await connected.connect()
        yield connected
        await connected.disconnect()
        return
    require_service("PostgreSQL", await _postgres_answers())
    # A database of its own per test, so runs never see each other's rows.
    name = f"tusmedia_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_TEST_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    connected = open_database(POSTGRES_TEST_URL.rsplit("/", 1)[0] + f"/{name}")
    await connected.connect()
    try:
        yield connected
    finally:
        await connected.disconnect()
        await admin.execute(f'DROP DATABASE "{name}"')
        await admin.close()
