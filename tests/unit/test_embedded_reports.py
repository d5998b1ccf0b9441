"""The embedded worker's reports to the server: gathered in the child, sent together, taken apart in
the server. A real multiprocessing queue between the two ends, as in the server."""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

from workers.embedded import BATCH_SECONDS, Reports, ReportSender

_DEPTHS = {"media": (3, 1)}


def _collect(outbox: Any, until: float) -> list[Reports]:
    batches = []
    while time.monotonic() < until:
        try:
            batches.append(outbox.get(timeout=0.05))
        except Exception:  # queue.Empty
            continue
    return batches


def test_a_jobs_events_and_its_end_arrive_as_one_message_with_the_queue_depths() -> None:
    outbox = multiprocessing.get_context("spawn").Queue()
    sender = ReportSender(outbox, lambda: _DEPTHS)
    try:
        sender.event("upload-a")
        sender.event("upload-b")
        sender.event("upload-a")  # the same asset again: the server wakes its streams once for it
        sender.job("ready", "image/jpeg", 0.25)  # a job's end sends the batch without waiting
        batches = _collect(outbox, time.monotonic() + BATCH_SECONDS + 0.5)
    finally:
        sender.close()
        outbox.close()

    assert len(batches) == 1
    (batch,) = batches
    assert batch.jobs == [("ready", "image/jpeg", 0.25)]
    assert list(batch.changed) == ["upload-a", "upload-b"]
    assert batch.depths == _DEPTHS  # a job ended, so the depths come along


def test_closing_sends_what_is_left_at_once() -> None:
    outbox = multiprocessing.get_context("spawn").Queue()
    sender = ReportSender(outbox, lambda: _DEPTHS)
    sender.event("upload-c")
    started = time.monotonic()
    sender.close()
    closed_in = time.monotonic() - started
    try:
        batches = _collect(outbox, time.monotonic() + 0.5)
    finally:
        outbox.close()

    assert [list(batch.changed) for batch in batches] == [["upload-c"]]
    assert closed_in < 0.5, "closing does not wait out the report interval"


def test_nothing_to_tell_sends_nothing() -> None:
    outbox = multiprocessing.get_context("spawn").Queue()
    sender = ReportSender(outbox, lambda: _DEPTHS)
    try:
        batches = _collect(outbox, time.monotonic() + 0.3)
    finally:
        sender.close()
        outbox.close()
    assert batches == []
