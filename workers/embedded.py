"""The embedded worker: with no broker configured, the media and webhook actors run in a child process
of the server, fed through a pipe.

Running them on threads of the server itself (as this did at first) put every job's orchestration
(Dramatiq's consumer and worker threads, the actors' event loop, the job's database writes) on the
server's interpreter, where each competes for the one lock Python runs under with the requests being
served. Measured with 16 concurrent small uploads, the server managed about 210 uploads a second
with the worker inside it and about 280 without. In a process of its own the worker runs on the
machine's other core.

The server sends with a ``ForwardingBroker``: a Dramatiq broker whose ``enqueue`` puts the encoded
message on the pipe. The child declares the same actors on a ``StubBroker`` and enqueues what arrives
there; retries and delayed messages are its own. Back from the child come what belongs to the server:
job metrics (the server's ``/metrics`` reports them), the queue depths, and a word after every event
the child commits, so the server's live streams show it at once.

Messages live in memory only, as they did on the threads: when the child dies (it is restarted) or
the server stops, rows left ``queued`` or ``processing`` are sent again by the recovery sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import dq_name

from app.observability import metrics
from config import Settings

log = logging.getLogger(__name__)

_CONTEXT = multiprocessing.get_context("spawn")
# How often the child reports its queues' depths, and checks that the server is still there.
REPORT_SECONDS = 1.0
# How long a stopping child gets to finish the jobs it is running before it is killed.
STOP_SECONDS = 10.0
# How long after an unexpected exit the child is started again.
RESTART_DELAY_SECONDS = 1.0
# How long the child gathers its reports before sending them together: each message costs the server a
# wake-up of its reader thread, which competes with the requests for the interpreter.
BATCH_SECONDS = 0.05


class ForwardingBroker(StubBroker):
    """The server's side: every message goes to the embedded worker's pipe. It declares the same
    actors (with the same options) as the child, but never consumes: the child does."""

    def __init__(self) -> None:
        super().__init__()
        self.outlet: Any = None  # the current child's inbox; None while no child is running
        self.depths: dict[str, tuple[int, int]] = {}  # queue -> (waiting, delayed), as the child last said

    def enqueue(self, message: dramatiq.Message[Any], *, delay: int | None = None) -> dramatiq.Message[Any]:
        self.emit_before("enqueue", message, delay)
        outlet = self.outlet
        if outlet is None:
            raise ConnectionError("the embedded worker is not running")
        outlet.put((message.encode(), delay))
        self.emit_after("enqueue", message, delay)
        return message


def server_broker(settings: Settings) -> dramatiq.Broker:
    """The broker the server sends with: the embedded worker's pipe, or the one configured."""
    from dramatiq.middleware import AsyncIO

    from workers.broker import create_broker

    if not settings.embedded_worker:
        return create_broker(settings)
    broker = ForwardingBroker()
    broker.add_middleware(AsyncIO())  # the actors are coroutines, declared here as in the child
    return broker


class EmbeddedWorker:
    """The child process running the actors, and the server's end of its pipes."""

    def __init__(self, settings: Settings, broker: ForwardingBroker, on_event: Any) -> None:
        self.settings = settings
        self.broker = broker
        self.on_event = on_event  # called (in a thread of the server) with the id of an asset the child changed
        self._process: Any = None
        self._inbox: Any = None
        self._outbox: Any = None
        self._reader: threading.Thread | None = None
        self._stopping = False

    def start(self) -> None:
        inbox, outbox = _CONTEXT.Queue(), _CONTEXT.Queue()
        process = _CONTEXT.Process(
            target=serve, args=(self.settings, inbox, outbox, os.getpid()), name="tusmedia-worker"
        )  # not a daemon: daemons may not have children, and this one forks the processing children
        process.start()
        self._process, self._inbox, self._outbox = process, inbox, outbox
        self._reader = threading.Thread(target=self._read, args=(outbox,), name="embedded-worker-reports", daemon=True)
        self._reader.start()
        self.broker.outlet = inbox

    async def supervise(self) -> None:
        """Start the child again whenever it ends without being asked to (killed, crashed)."""
        while True:
            await asyncio.sleep(RESTART_DELAY_SECONDS)
            if self._stopping or self._process is None or self._process.is_alive():
                continue
            log.error("the embedded worker exited with %s; starting it again", self._process.exitcode)
            await asyncio.to_thread(self._discard)
            await asyncio.to_thread(self.start)

    def stop(self) -> None:
        """Ask the child to finish its running jobs and end; kill it if it takes longer than STOP_SECONDS."""
        self._stopping = True
        if self._process is None:
            return
        self.broker.outlet = None
        with contextlib.suppress(Exception):
            self._inbox.put(None)
        self._process.join(STOP_SECONDS)
        if self._process.is_alive():
            log.warning("the embedded worker did not stop within %g s; killing it", STOP_SECONDS)
            self._process.kill()
            self._process.join()
        self._discard()

    def _discard(self) -> None:
        self.broker.outlet = None
        # Messages the child will never read are dropped (the recovery sweep sends their jobs again):
        # waiting to flush them into a pipe nobody reads would hang the server's exit.
        self._inbox.cancel_join_thread()
        self._inbox.close()
        self._outbox.put(None)  # ends the reader thread
        if self._reader is not None:
            self._reader.join()
        self._outbox.close()
        self._process.close()
        self._process = self._inbox = self._outbox = self._reader = None

    def _read(self, outbox: Any) -> None:
        while True:
            batch = outbox.get()
            if batch is None:
                return
            try:
                self._take(batch)
            except Exception:
                log.exception("could not take the embedded worker's reports")

    def _take(self, batch: Reports) -> None:
        for outcome, detected_type, seconds in batch.jobs:
            metrics.record_job(outcome, detected_type=detected_type, seconds=seconds)
        if batch.depths is not None:
            self.broker.depths = batch.depths
        for upload_id in batch.changed:
            self.on_event(upload_id)


@dataclass
class Reports:
    """What the child has to tell the server, gathered for one message."""

    jobs: list[tuple[Any, ...]] = field(default_factory=list)
    depths: dict[str, tuple[int, int]] | None = None
    changed: dict[str, None] = field(default_factory=dict)  # assets with new events, in order, once each


class ReportSender:
    """The child's side: reports from any thread, sent together at most every ``BATCH_SECONDS``."""

    def __init__(self, outbox: Any, depths: Callable[[], dict[str, tuple[int, int]]]) -> None:
        self.outbox = outbox
        self.depths = depths
        self._lock = threading.Lock()
        self._pending = Reports()
        self._has_news = threading.Event()
        self._job_ended = False  # then the batch goes at once: the job's events and the new depths
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="reports-to-server", daemon=True)
        self._thread.start()

    def job(self, *job: Any) -> None:
        with self._lock:
            self._pending.jobs.append(job)
            self._job_ended = True
        self._has_news.set()

    def event(self, upload_id: str) -> None:
        with self._lock:
            self._pending.changed[upload_id] = None
        self._has_news.set()

    def send_depths(self) -> None:
        with self._lock:
            self._pending.depths = self.depths()
        self._has_news.set()

    def close(self) -> None:
        """Send what is left, and stop."""
        self._stopped = True
        self._has_news.set()
        self._thread.join()
        self.flush()

    def _run(self) -> None:
        while not self._stopped:
            if self._has_news.wait(REPORT_SECONDS) and not self._stopped and not self._job_ended:
                time.sleep(BATCH_SECONDS)
            self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, Reports()
            self._has_news.clear()
            self._job_ended = False
        if batch.jobs:
            batch.depths = self.depths()  # a job ended: the queue has changed
        if batch.jobs or batch.changed or batch.depths is not None:
            self.outbox.put(batch)


def serve(settings: Settings, inbox: Any, outbox: Any, server_pid: int) -> None:
    """The child's life: the actors on a worker of its own, fed from ``inbox`` until the server sends
    None or is gone."""
    from app.notify.outbox import listen
    from app.observability.logs import configure_logging
    from workers.broker import create_broker, start_worker
    from workers.media import declare_actors
    from workers.webhooks import declare_webhook_actors

    # A Ctrl-C at the terminal, or a service manager's SIGTERM to the whole group, reaches this child
    # too: the server decides when it stops (after its requests, letting running jobs finish).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure_logging(settings.log_level, settings.log_format)
    broker = create_broker(settings)
    actors = declare_actors(broker, settings)
    webhooks = declare_webhook_actors(broker, settings)
    queue_names = (actors.process_media.queue_name, webhooks.deliver_webhooks.queue_name)

    reports = ReportSender(outbox, lambda: _depths(broker, queue_names))
    metrics.send_jobs_to(reports.job)
    listen(lambda upload_id, _deliveries: reports.event(upload_id))
    worker = start_worker(broker, settings.media_worker_concurrency)
    log.info("embedded worker running with %d thread(s)", settings.media_worker_concurrency)
    try:
        _feed(broker, inbox, reports, server_pid)
    finally:
        worker.stop()
        webhooks.close()
        broker.close()
        reports.close()
        outbox.close()
        outbox.join_thread()


def _feed(broker: dramatiq.Broker, inbox: Any, reports: ReportSender, server_pid: int) -> None:
    reported = 0.0
    while True:
        try:
            item = inbox.get(timeout=REPORT_SECONDS)
        except queue.Empty:
            item = ()
        if item is None or os.getppid() != server_pid:
            return  # asked to stop, or the server is gone (this child was handed to another parent)
        if item:
            encoded, delay = item
            broker.enqueue(dramatiq.Message.decode(encoded), delay=delay)
        if time.monotonic() - reported >= REPORT_SECONDS:
            reports.send_depths()
            reported = time.monotonic()


def _depths(broker: Any, queue_names: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    return {name: (broker.queues[name].qsize(), broker.queues[dq_name(name)].qsize()) for name in queue_names}
