"""Upload locks shared by every server process through Redis.

Each process first takes its own in-process lock (so requests within a process hand over as before),
then a Redis key ``SET NX PX`` with a random token, renewed while held, so a crashed holder's lock
frees itself after ``LOCK_TTL_MS``. A request that finds the key taken publishes the upload id on a
channel every process listens to; the process holding it interrupts its request if that request has
been waiting for body bytes too long (the same rule as within one process), and the request that
asked takes the key as soon as it is deleted.

A holder whose renewal fails (Redis silent for ``REDIS_ANSWER_SECONDS``, or the key no longer its own)
is stopped at once, before its next piece: that is at most ``RENEW_EVERY_SECONDS +
REDIS_ANSWER_SECONDS`` after its last confirmed renewal, more than 4 s before the key could expire and
let another process in. Every Redis command is bounded by the same time, so a silent Redis makes tus
requests answer 503 instead of hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.tus.locks import LOCK_LOST, TAKE_OVER_POLL_SECONDS, LockHolder, LockServiceDown, UploadBusy, UploadLocks

log = logging.getLogger(__name__)

LOCK_TTL_MS = 10_000
RENEW_EVERY_SECONDS = LOCK_TTL_MS / 1000 / 3
# Longer than any answer from a healthy Redis, and short enough that a renewal given up after it
# still stops the holder long before the key's TTL runs out.
REDIS_ANSWER_SECONDS = 2.0
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)

T = TypeVar("T")


async def _answer(command: Awaitable[T]) -> T:
    """What Redis answered, or LockServiceDown when it failed or said nothing in time."""
    try:
        async with asyncio.timeout(REDIS_ANSWER_SECONDS):
            return await command
    except TimeoutError:
        raise LockServiceDown(f"Redis did not answer within {REDIS_ANSWER_SECONDS:g} s") from None
    except RedisError as error:
        raise LockServiceDown(str(error)) from None


class SharedUploadLocks:
    shared = True

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

    async def ping(self) -> None:
        await _answer(self.redis.ping())

    @contextlib.asynccontextmanager
    async def hold(
        self, upload_id: str, *, take_over: bool = True, wait_seconds: float | None = None
    ) -> AsyncIterator[LockHolder]:
        wait = self.local.wait_seconds if wait_seconds is None else wait_seconds
        deadline = asyncio.get_running_loop().time() + wait
        async with self.local.hold(upload_id, take_over=take_over, wait_seconds=wait) as holder:
            token = secrets.token_hex(16)
            key = self.prefix + upload_id
            await self._acquire(key, upload_id, token, take_over, deadline)
            renewal = asyncio.create_task(self._renew(key, token, holder))
            try:
                yield holder
            finally:
                renewal.cancel()
                try:
                    await _answer(self.redis.eval(_RELEASE, 1, key, token))
                except LockServiceDown:
                    log.warning("could not release the lock of %s; it expires by itself", upload_id)

    async def _acquire(self, key: str, upload_id: str, token: str, take_over: bool, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while not await _answer(self.redis.set(key, token, nx=True, px=LOCK_TTL_MS)):
            if take_over:
                await _answer(self.redis.publish(self.channel, upload_id))
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise UploadBusy(upload_id)
            await asyncio.sleep(min(remaining, TAKE_OVER_POLL_SECONDS))

    async def _renew(self, key: str, token: str, holder: LockHolder) -> None:
        """Keep the key while the lock is held; stop the holder on the first renewal that fails.

        No second try: the key may be gone already (another process can be writing), and a retry
        would eat into the margin before the TTL. A holder stopped by a passing blip costs its client
        a 503 and a resume, never a doubled byte.
        """
        while True:
            await asyncio.sleep(RENEW_EVERY_SECONDS)
            try:
                renewed = await _answer(self.redis.eval(_RENEW, 1, key, token, LOCK_TTL_MS))
            except LockServiceDown as down:
                log.warning("could not renew the lock %s (%s); its request stops", key, down)
                holder.stop(LOCK_LOST)
                return
            if not renewed:
                log.warning("lost the lock %s: it expired or another holder has it; its request stops", key)
                holder.stop(LOCK_LOST)
                return

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
