"""``/healthz`` (the process answers) and ``/readyz`` (it can do its work: database, broker, disk, and
the bucket when uploads are in S3).

Both are open to everyone, as load balancers and orchestrators probe without credentials; neither
says more than "ok" or a one-line reason. Every check is bounded in time, and anything that blocks
(file system calls, the synchronous broker clients) runs in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dramatiq
from databases import Database
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from workers.broker import is_rabbitmq_broker, is_redis_broker

if TYPE_CHECKING:
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    from app.tus.locks import Locks

CHECK_TIMEOUT_SECONDS = 2.0
OK = "ok"
IN_PROCESS = "in-process"


class NotReady(Exception):
    """One part cannot do its work; the message is the one-line reason shown."""


@dataclass(frozen=True)
class Readiness:
    database: Database
    broker: dramatiq.Broker
    upload_dir: Path
    min_free_bytes: int
    # Checked when shared (through Redis): without them no tus request can be served.
    locks: Locks | None = None
    # The object storage, when uploads live in a bucket: raises when it does not answer.
    storage: Callable[[], Awaitable[None]] | None = None

    async def check(self) -> dict[str, str]:
        checks: dict[str, Callable[[], Awaitable[str]]] = {
            "database": self._database,
            "broker": self._broker,
            "disk": self._disk,
        }
        if self.locks is not None and self.locks.shared:
            checks["locks"] = self._locks
        if self.storage is not None:
            checks["storage"] = self._storage
        answers = await asyncio.gather(*(_bounded(check) for check in checks.values()))
        return dict(zip(checks, answers, strict=True))

    async def _database(self) -> str:
        await self.database.fetch_val("SELECT 1")
        return OK

    async def _broker(self) -> str:
        if is_redis_broker(self.broker):
            await asyncio.to_thread(self.broker.client.ping)
        elif is_rabbitmq_broker(self.broker):
            await asyncio.to_thread(_rabbitmq_answers, self.broker)
        else:
            return IN_PROCESS
        return OK

    async def _disk(self) -> str:
        stats = await asyncio.to_thread(os.statvfs, self.upload_dir)
        free = stats.f_bavail * stats.f_frsize
        if free < self.min_free_bytes:
            raise NotReady(
                f"{_mib(free)} free on {self.upload_dir}, less than READY_MIN_FREE_BYTES ({_mib(self.min_free_bytes)})"
            )
        return OK

    async def _storage(self) -> str:
        assert self.storage is not None
        await self.storage()
        return OK

    async def _locks(self) -> str:
        assert self.locks is not None
        await self.locks.ping()
        return OK


def _rabbitmq_answers(broker: RabbitmqBroker) -> None:
    import pika

    # A connection of its own: the broker's are per thread and would pile up in the thread pool.
    parameters = broker.parameters
    first = parameters[0] if isinstance(parameters, list) else parameters
    pika.BlockingConnection(first).close()


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


async def _bounded(check: Callable[[], Awaitable[str]]) -> str:
    """ "ok" (or "in-process"), or "failed: <one line>" when the check raised or took too long."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            return await check()
    except TimeoutError:
        return f"failed: no answer within {CHECK_TIMEOUT_SECONDS:g} s"
    except Exception as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        return f"failed: {reason}"


def health_routes(readiness: Readiness) -> list[Route]:
    async def alive(request: Request) -> JSONResponse:
        return JSONResponse({"status": "alive"})

    async def ready(request: Request) -> JSONResponse:
        parts = await readiness.check()
        healthy = all(answer in (OK, IN_PROCESS) for answer in parts.values())
        return JSONResponse(parts, status_code=200 if healthy else 503, headers={"Cache-Control": "no-store"})

    return [
        Route("/healthz", alive, methods=["GET", "HEAD"]),
        Route("/readyz", ready, methods=["GET", "HEAD"]),
    ]
