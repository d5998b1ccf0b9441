"""Processing in child processes, so a job over its time limit is killed, not abandoned.

A thread running Pillow or FFmpeg cannot be stopped: it would run on after its job timed out, keep
one of the few executor threads, and write into a scratch folder already cleaned up. A process can
be killed, and the worker's interpreter (in embedded mode, the server's) never runs decoders.

Children are kept between jobs (``ChildPool``): one runs one job at a time, and one that is killed
(its job over its time limit, or abandoned) is simply not reused. Forking a child per job cost about
3 ms of CPU a job in the fork, the copy-on-write faults of a child touching its parent's objects, and
its exit, all of it before the child could lower its priority; a kept child pays that once and runs
every job at its lowered priority. Children are forked from a fork server that has imported the
processing code once. The upload's open file goes to the child as a file descriptor over the pipe,
and results come back as plain tuples: the processing errors carry constructor arguments that
pickling an exception would lose.

A child ends the moment its worker's end of their socket pair closes, so a worker killed with
SIGKILL leaves no child decoding on for nobody and writing into a folder no attempt owns. (Asking
the kernel to kill children with their parent would not do: their parent is the fork server, which
lives as long as any child holds its liveness pipe, as every child does.)
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import select
import threading
import time
from dataclasses import dataclass
from multiprocessing import reduction
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from workers.processing import (
    DetectedButFailed,
    PermanentProcessingError,
    ProcessingOptions,
    ProcessingResult,
    TransientProcessingError,
    TypeNotAllowed,
)

_CONTEXT = multiprocessing.get_context("forkserver")
# The fork server imports the decoders once; the process that schedules jobs never does.
_CONTEXT.set_forkserver_preload(["workers.processing.pipeline"])


# A child is replaced after this many jobs: whatever a decoder leaks, or leaves cached, goes with it.
JOBS_PER_CHILD = 200


@dataclass(frozen=True)
class Job:
    source_fd: int  # the upload as the parent opened it when it claimed the job: a delete meanwhile changes nothing
    output_dir: Path
    options: ProcessingOptions
    delay_seconds: float = 0.0  # for tests: a job that is slow inside the child, where it can be killed


class JobTimedOut(PermanentProcessingError):
    """The job ran past its time limit; the same file would again."""


class ChildDied(TransientProcessingError):
    """The child ended without an answer (killed by the kernel, a crash in a decoder)."""


def one_line(error: BaseException) -> str:
    """An error as a single line for the asset's ``error``; OSErrors without the path, which is the
    server's business, not the user's."""
    if isinstance(error, OSError) and error.strerror:
        return f"{type(error).__name__}: {error.strerror}"
    text = f"{type(error).__name__}: {error}".splitlines()
    return text[0][:500] if text else type(error).__name__


class _Child:
    def __init__(self, process: Any, connection: Connection) -> None:
        self.process = process
        self.connection = connection
        self.jobs = 0

    @classmethod
    async def start(cls, niceness: int) -> _Child:
        connection, child_end = _CONTEXT.Pipe(duplex=True)  # a socket pair: it carries file descriptors
        process = _CONTEXT.Process(target=_serve_jobs, args=(child_end, niceness), daemon=True)
        try:
            await asyncio.to_thread(process.start)
        finally:
            child_end.close()
        return cls(process, connection)

    def send(self, job: Job) -> None:
        """Hand over a job: it and the file descriptor, a few hundred bytes into an idle child's socket."""
        self.jobs += 1
        self.connection.send(job)
        reduction.send_handle(self.connection, job.source_fd, self.process.pid)

    async def stop(self, busy: bool) -> None:
        """Gone before this returns: killed when ``busy`` with a job, else ended by its closed pipe."""
        self.connection.close()
        if busy:
            self.process.kill()
        await asyncio.to_thread(self.process.join, _CHILD_EXIT_SECONDS)
        if self.process.is_alive():
            self.process.kill()
            await asyncio.to_thread(self.process.join)
        self.process.close()


# How long a child whose pipe closed gets to end by itself before it is killed.
_CHILD_EXIT_SECONDS = 5.0


class ChildPool:
    """Processing children for one worker, kept between jobs; each runs one job at a time."""

    def __init__(self, niceness: int = 0, jobs_per_child: int = JOBS_PER_CHILD) -> None:
        self.niceness = niceness
        self.jobs_per_child = jobs_per_child
        self._idle: list[_Child] = []
        self._closed = False

    async def run(self, job: Job, time_limit_seconds: float) -> ProcessingResult:
        """Run ``job`` in a child; its result, or its processing error raised here.

        The time limit counts from the job's hand-over. On the limit, and on cancellation of this
        coroutine, the child is killed, and it is gone before this returns or raises.
        """
        child = await self._child()
        answered = False
        try:
            child.send(job)
            try:
                async with asyncio.timeout(time_limit_seconds):
                    await _readable(child.connection)
            except TimeoutError:
                raise JobTimedOut(f"timed out after {time_limit_seconds:g} s") from None
            try:
                answer = child.connection.recv()
            except EOFError:
                await asyncio.to_thread(child.process.join)
                exit_code = child.process.exitcode
                raise ChildDied(f"the processing child ended without an answer (exit code {exit_code})") from None
            answered = True
            return _outcome(answer)
        finally:
            if answered and not self._closed and child.jobs < self.jobs_per_child:
                self._idle.append(child)
            else:
                await child.stop(busy=not answered)

    async def _child(self) -> _Child:
        while self._idle:
            child = self._idle.pop()
            if child.process.is_alive():
                return child
            await child.stop(busy=False)  # died while idle (the kernel's OOM killer, an admin)
        return await _Child.start(self.niceness)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for child in idle:
            await child.stop(busy=False)


async def _readable(connection: Connection) -> None:
    """Wait, without a thread, until the child has answered or gone."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def answered() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(connection.fileno(), answered)
    try:
        await ready
    finally:
        loop.remove_reader(connection.fileno())


def _outcome(answer: tuple[Any, ...]) -> ProcessingResult:
    kind = answer[0]
    if kind == "ok":
        result: ProcessingResult = answer[1]
        return result
    if kind == "not allowed":
        raise TypeNotAllowed(answer[1])
    if kind == "failed":
        detected, reason = answer[1], answer[2]
        raise PermanentProcessingError(reason) if detected is None else DetectedButFailed(detected, reason)
    raise TransientProcessingError(answer[1])


def _exit_when_the_worker_is_gone(connection: Connection) -> None:
    """Stop this child the moment the worker's end of the socket pair closes (a worker killed with
    SIGKILL closes it too), whatever job it is in the middle of. Only a hang-up is asked for (the jobs
    themselves are the main thread's to read), so whatever the poll reports (a hang-up, an error, the
    descriptor gone) means this child has no one left to work for."""
    poller = select.poll()
    poller.register(connection.fileno(), getattr(select, "POLLRDHUP", 0))  # POLLHUP/ERR/NVAL always come
    poller.poll()
    os._exit(0)


def _serve_jobs(connection: Connection, niceness: int) -> None:
    """A child's life: jobs from the pipe, one at a time, until the parent closes it."""
    threading.Thread(target=_exit_when_the_worker_is_gone, args=(connection,), daemon=True).start()
    from PIL import Image

    from workers.processing.pipeline import process_media_file

    if niceness > 0:
        # Decoding yields to the requests of the process that started this (the server, when the
        # worker is embedded): processing gets the CPU they leave, never theirs.
        os.nice(niceness)
    while True:
        try:
            job: Job = connection.recv()
            source_fd = reduction.recv_handle(connection)
        except (EOFError, OSError):
            return
        # Pillow warns above this and refuses at twice it; the pipeline refuses more pixels itself first.
        Image.MAX_IMAGE_PIXELS = job.options.max_image_pixels
        try:
            with open(source_fd, "rb") as source:
                if job.delay_seconds:
                    time.sleep(job.delay_seconds)  # slow work on an open file, as a big one would be
                answer: tuple[Any, ...] = ("ok", process_media_file(source, job.output_dir, job.options))
        except TypeNotAllowed as refused:
            answer = ("not allowed", refused.detected_type)
        except PermanentProcessingError as failure:
            detected = failure.detected_type if isinstance(failure, DetectedButFailed) else None
            answer = ("failed", detected, str(failure))
        except Exception as error:
            answer = ("error", one_line(error))
        try:
            connection.send(answer)
        except (BrokenPipeError, ConnectionResetError):
            return
