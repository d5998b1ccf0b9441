"""Upload locks shared by every server process through Redis.

Each process first takes its own in-process lock (so requests within a process hand over as before),
then a Redis key ``SET NX PX`` with a random token, renewed while held, so a crashed holder's lock
frees itself after ``LOCK_TTL_MS``. A request that finds the key taken publishes the upload id on a
channel every process listens to; the process holding it interrupts its request if that request has
been waiting for body bytes too long (the same rule as within one process), and the request that
asked takes the key as soon as it is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.tus.locks import TAKE_OVER_POLL_SECONDS, LockHolder, LockServiceDown, UploadBusy, UploadLocks

log = logging.getLogger(__name__)

LOCK_TTL_MS = 10_000
RENEW_EVERY_SECONDS = LOCK_TTL_MS / 1000 / 3
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)


class SharedUploadLocks:
    def __init__(self, local: UploadLocks, redis_url: str, namespace: str) -> None:
        self.local = local
        self.redis = aioredis.from_url(redis_url)
        self.prefix = f"{namespace}:upload-lock:"
        self.channel = f"{namespace}:upload-lock-wanted"
        self._listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        ready = asyncio.Event()
        self._listener = asyncio.create_task(self._listen(ready))
        await asyncio.wait_for(ready.wait(), 10)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self.redis.aclose()

    def interrupt_all(self) -> None:
        self.local.interrupt_all()

    @contextlib.asynccontextmanager
    async def hold(
        self, upload_id: str, *, take_over: bool = True, wait_seconds: float | None = None
    ) -> AsyncIterator[LockHolder]:
        wait = self.local.wait_seconds if wait_seconds is None else wait_seconds
        deadline = asyncio.get_running_loop().time() + wait
        async with self.local.hold(upload_id, take_over=take_over, wait_seconds=wait) as holder:
            token = secrets.token_hex(16)
            key = self.prefix + upload_id
            try:
                await self._acquire(key, upload_id, token, take_over, deadline)
            except RedisError as error:
                raise LockServiceDown(str(error)) from None
            renewal = asyncio.create_task(self._renew(key, token))
            try:
                yield holder
            finally:
                renewal.cancel()
                try:
                    await self.redis.eval(_RELEASE, 1, key, token)
                except RedisError:
                    log.warning("could not release the lock of %s; it expires by itself", upload_id)

    async def _acquire(self, key: str, upload_id: str, token: str, take_over: bool, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while not await self.redis.set(key, token, nx=True, px=LOCK_TTL_MS):
            if take_over:
                await self.redis.publish(self.channel, upload_id)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise UploadBusy(upload_id)
            await asyncio.sleep(min(remaining, TAKE_OVER_POLL_SECONDS))

    async def _renew(self, key: str, token: str) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY_SECONDS)
            try:
                if not await self.redis.eval(_RENEW, 1, key, token, LOCK_TTL_MS):
                    log.warning("lost the lock %s: it expired before it could be renewed", key)
                    return
            except RedisError as error:
                log.warning("could not renew the lock %s: %s", key, error)

    async def _listen(self, ready: asyncio.Event) -> None:
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    ready.set()
                    while True:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                        if message is not None:
                            self.local.take_over_if_stalled(message["data"].decode())
            except RedisError as error:
                log.warning("lost the lock channel (%s); listening again in 1 s", error)
                await asyncio.sleep(1)
