"""One request at a time per upload, and a fast hand-over when a client comes back.

Every request that reads or changes an upload holds its lock, so no two writers meet and no HEAD sees
a half-written state. A phone that walks out of Wi-Fi reconnects within seconds while its old PATCH
is still open on the server, blocked reading a body that will never come. So a request that finds
the lock taken asks the holder to let go: if the holder is waiting for body bytes, it is interrupted
there (never in the middle of a write), keeps what it wrote, answers, and releases the lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

# A holder that has had no body bytes for this long is taken for a dead connection when another
# request for its upload arrives. Two live clients racing never pause that long, so one of them
# finishes and the other gets 409, while a client that reconnected is served within half a second.
STALLED_AFTER_SECONDS = 0.25
TAKE_OVER_POLL_SECONDS = 0.05


class UploadBusy(Exception):
    """The holder did not let go in time."""


class LockServiceDown(Exception):
    """The shared lock service (Redis) did not answer, so no upload can be locked safely."""


@dataclass(frozen=True)
class Interruption:
    status: int
    reason: str


TAKEN_OVER = Interruption(400, "another request took over this upload; the bytes received so far are kept")
SHUTTING_DOWN = Interruption(503, "the server is restarting; the bytes received so far are kept, resume shortly")
# 503: the client did nothing wrong, and resuming from HEAD is all it needs to do.
LOCK_LOST = Interruption(
    503, "the server lost this upload's lock; the bytes received so far are kept, resume from HEAD"
)


def idle_timeout(seconds: float) -> Interruption:
    # 503, not 408: tus clients retry 5xx (and resume from HEAD) but give up on most 4xx, and a
    # client that stalled this long and still hears the answer should simply carry on.
    return Interruption(503, f"no data for {seconds:g} s; the bytes received so far are kept, resume from HEAD")


class BodyInterrupted(Exception):
    """A request stopped reading its body: another request wants the upload, the client went quiet
    for too long, or the server is shutting down."""

    def __init__(self, interruption: Interruption) -> None:
        super().__init__(interruption.reason)
        self.interruption = interruption


@dataclass
class LockHolder:
    task: asyncio.Task[object] | None
    waiting_for_body: bool = False
    interruption: Interruption | None = None
    last_data_at: float = field(default_factory=lambda: asyncio.get_running_loop().time())

    def interrupt(self, interruption: Interruption) -> None:
        """Stop the holder if it is waiting for body bytes; one busy writing is left to carry on."""
        if self.waiting_for_body:
            self.stop(interruption)

    def stop(self, interruption: Interruption) -> None:
        """Stop the holder whatever it is doing: at once if it is waiting for body bytes, otherwise
        before it takes the next piece (for a holder that may no longer own its lock)."""
        if self.interruption is not None:
            return  # stopping already; a second cancel would outlive the one ``read`` takes back
        self.interruption = interruption
        # Only at the await for the network: a write cut short could leave the data file mid-piece.
        if self.waiting_for_body and self.task is not None:
            self.task.cancel()

    def stalled_for(self) -> float:
        return asyncio.get_running_loop().time() - self.last_data_at if self.waiting_for_body else 0.0

    async def read(self, chunks: AsyncIterator[bytes], idle_seconds: float) -> AsyncIterator[bytes]:
        """Pass on ``chunks``; interruptible while waiting for each one, and interrupted after
        ``idle_seconds`` without data (0: never)."""
        loop = asyncio.get_running_loop()
        self.last_data_at = loop.time()
        watchdog: asyncio.TimerHandle | None = None

        def watch() -> None:
            nonlocal watchdog
            if loop.time() - self.last_data_at >= idle_seconds:
                self.interrupt(idle_timeout(idle_seconds))
            else:
                watchdog = loop.call_later(min(1.0, idle_seconds / 4), watch)

        if idle_seconds > 0:
            # One timer per request rather than one per chunk: reading stays as cheap as it was.
            watchdog = loop.call_later(min(1.0, idle_seconds / 4), watch)
        iterator = aiter(chunks)
        try:
            while True:
                if self.interruption is not None:
                    raise BodyInterrupted(self.interruption)  # stopped while it was writing the last piece
                self.waiting_for_body = True
                try:
                    chunk = await anext(iterator)
                except StopAsyncIteration:
                    return
                except asyncio.CancelledError:
                    if self.interruption is None:
                        raise
                    current = asyncio.current_task()
                    if current is not None:
                        current.uncancel()
                    raise BodyInterrupted(self.interruption) from None
                finally:
                    self.waiting_for_body = False
                self.last_data_at = loop.time()
                yield chunk
        finally:
            if watchdog is not None:
                watchdog.cancel()


@dataclass
class _UploadLock:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    holder: LockHolder | None = None
    users: int = 0


class LockObserver(Protocol):
    """Told about contention, for the metrics; the protocol layer itself does not know Prometheus."""

    def waited(self, seconds: float, acquired: bool) -> None:
        """A request found the lock taken and waited ``seconds``, then got it or gave up (423)."""
        ...

    def handed_over(self) -> None:
        """A stalled holder was interrupted for another request."""
        ...


class _Unobserved:
    def waited(self, seconds: float, acquired: bool) -> None:
        pass

    def handed_over(self) -> None:
        pass


class Locks(Protocol):
    """What the protocol layer needs of upload locks: in-process ones, or shared through Redis."""

    shared: bool  # seen by every server process, not this one alone

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ping(self) -> None:
        """Raise when the locks cannot be taken now (their service is down)."""

    def hold(
        self, upload_id: str, *, take_over: bool = True, wait_seconds: float | None = None
    ) -> AbstractAsyncContextManager[LockHolder]: ...

    def interrupt_all(self) -> None: ...


class UploadLocks:
    """In-process locks. Several server processes sharing one upload directory need shared locks
    (``app.tus.shared_locks``) on top of these."""

    shared = False

    async def start(self) -> None:
        """Nothing to start or stop: these live in this process."""

    async def stop(self) -> None:
        pass

    async def ping(self) -> None:
        pass

    def __init__(self, wait_seconds: float, observer: LockObserver | None = None) -> None:
        self.wait_seconds = wait_seconds
        self.observer: LockObserver = observer or _Unobserved()
        self._locks: dict[str, _UploadLock] = {}

    @asynccontextmanager
    async def hold(
        self, upload_id: str, *, take_over: bool = True, wait_seconds: float | None = None
    ) -> AsyncIterator[LockHolder]:
        """Hold the upload's lock. ``take_over``: a client's request, which interrupts a holder that
        is only waiting for body bytes; housekeeping passes False and waits its turn (or, with
        ``wait_seconds=0``, gives up at once)."""
        entry = self._locks.setdefault(upload_id, _UploadLock())
        entry.users += 1
        try:
            await self._acquire_observed(
                upload_id, entry, take_over, self.wait_seconds if wait_seconds is None else wait_seconds
            )
            holder = LockHolder(task=asyncio.current_task())
            entry.holder = holder
            try:
                yield holder
            finally:
                entry.holder = None
                entry.lock.release()
        finally:
            entry.users -= 1
            if not entry.users:
                del self._locks[upload_id]

    def take_over_if_stalled(self, upload_id: str) -> None:
        """Interrupt the upload's holder if it has been waiting for body bytes too long: another
        request, here or (through shared locks) in another process, wants the upload."""
        entry = self._locks.get(upload_id)
        if entry is not None and entry.holder is not None and entry.holder.stalled_for() >= STALLED_AFTER_SECONDS:
            if entry.holder.interruption is None:
                self.observer.handed_over()
            entry.holder.interrupt(TAKEN_OVER)

    async def _acquire_observed(self, upload_id: str, entry: _UploadLock, take_over: bool, wait_seconds: float) -> None:
        """``_acquire``, telling the observer how long a request that found the lock taken waited."""
        if not entry.lock.locked():
            await self._acquire(upload_id, entry, take_over, wait_seconds)
            return
        loop = asyncio.get_running_loop()
        since = loop.time()
        acquired = False
        try:
            await self._acquire(upload_id, entry, take_over, wait_seconds)
            acquired = True
        finally:
            self.observer.waited(loop.time() - since, acquired)

    async def _acquire(self, upload_id: str, entry: _UploadLock, take_over: bool, wait_seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while True:
            if take_over:
                self.take_over_if_stalled(upload_id)
            remaining = deadline - loop.time()
            if remaining <= 0:
                if entry.lock.locked():
                    raise UploadBusy(upload_id)
                remaining = 0.001  # a free lock is taken at once, even with no time to wait
            try:
                async with asyncio.timeout(min(remaining, TAKE_OVER_POLL_SECONDS)):
                    await entry.lock.acquire()
                return
            except TimeoutError:
                continue

    def interrupt_all(self) -> None:
        """Stop every request that is waiting for body bytes: the server is shutting down."""
        for entry in self._locks.values():
            if entry.holder is not None:
                entry.holder.interrupt(SHUTTING_DOWN)
