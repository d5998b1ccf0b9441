"""Processing in a child process of its own, so a job over its time limit is killed, not abandoned.

A thread running Pillow or FFmpeg cannot be stopped: it would run on after its job timed out, keep
one of the few executor threads, and write into a scratch folder already cleaned up. A process can
be killed, and the worker's interpreter (in embedded mode, the server's) never runs decoders.

Children are forked from a fork server that has imported the processing code once, so starting one
costs milliseconds, not an interpreter start-up. Results come back through a pipe as plain tuples:
the processing errors carry constructor arguments that pickling an exception would lose.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
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


class OpenFile:
    """A file descriptor the child inherits: the upload the parent opened when it claimed the job,
    so a delete meanwhile (its bytes stay readable through the open file) changes nothing for the
    child. Passed the way multiprocessing passes its own connections to a forked child."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, ...]:
        return OpenFile._in_child, (reduction.DupFd(self.fd),)

    @staticmethod
    def _in_child(duplicate: Any) -> OpenFile:
        return OpenFile(duplicate.detach())


@dataclass(frozen=True)
class Job:
    source: OpenFile
    output_dir: Path
    options: ProcessingOptions
    delay_seconds: float = 0.0  # for tests: a job that is slow inside the child, where it can be killed
    niceness: int = 0  # how much lower the child's CPU priority is than its parent's


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


async def run_in_child(job: Job, time_limit_seconds: float) -> ProcessingResult:
    """Run ``job`` in a new child process; its result, or its processing error raised here.

    The time limit counts from the child's start. On the limit, and on cancellation of this
    coroutine, the child is killed, and it is gone before this returns or raises.
    """
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    child = _CONTEXT.Process(target=_child_main, args=(job, sender), daemon=True)
    try:
        await asyncio.to_thread(child.start)
        sender.close()  # the child holds the writing end now; its exit closes the pipe
        try:
            async with asyncio.timeout(time_limit_seconds):
                await _readable(receiver)
        except TimeoutError:
            raise JobTimedOut(f"timed out after {time_limit_seconds:g} s") from None
        try:
            answer = receiver.recv()
        except EOFError:
            await asyncio.to_thread(child.join)
            raise ChildDied(f"the processing child ended without an answer (exit code {child.exitcode})") from None
        return _outcome(answer)
    finally:
        receiver.close()
        sender.close()
        if child.pid is not None:
            if child.is_alive():
                child.kill()
            await asyncio.to_thread(child.join)
            child.close()


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


def _child_main(job: Job, sender: Connection) -> None:
    from PIL import Image

    from workers.processing.pipeline import process_media_file

    if job.niceness > 0:
        # Decoding yields to the requests of the process that forked this (the server, when the
        # worker is embedded): processing gets the CPU they leave, never theirs.
        os.nice(job.niceness)
    # Pillow warns above this and refuses at twice it; the pipeline refuses more pixels itself first.
    Image.MAX_IMAGE_PIXELS = job.options.max_image_pixels
    try:
        with open(job.source.fd, "rb") as source:
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
    with contextlib.suppress(BrokenPipeError):
        sender.send(answer)
    sender.close()
