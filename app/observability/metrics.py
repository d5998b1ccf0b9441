"""The metric objects, in one registry of our own.

Our own registry rather than prometheus_client's global one, so ``/metrics`` shows what is defined
here (and the process's own figures), not whatever some library registers on import. Label values
are kept to small fixed sets: route templates, methods, statuses, outcomes, detected media types.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, PlatformCollector, ProcessCollector

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

# Uploads can stream for minutes, so the request buckets go well past the default 10 s.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
PROCESSING_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
LOCK_WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "tusmedia_http_requests", "HTTP requests answered", ["route", "method", "status"], registry=REGISTRY
)
HTTP_REQUEST_DURATION = Histogram(
    "tusmedia_http_request_duration_seconds",
    "Time from a request's start to the end of its answer",
    ["route", "method"],
    buckets=REQUEST_BUCKETS,
    registry=REGISTRY,
)
HTTP_RECEIVED_BYTES = Counter(
    "tusmedia_http_received_bytes", "Request body bytes received", ["route", "method"], registry=REGISTRY
)

UPLOADS_CREATED = Counter(
    "tusmedia_uploads_created", "Uploads created (concatenation parts excluded)", registry=REGISTRY
)
UPLOADS_FINISHED = Counter(
    "tusmedia_uploads_finished", "Uploads that received their last byte and were queued", registry=REGISTRY
)
UPLOADS_TERMINATED = Counter("tusmedia_uploads_terminated", "Uploads deleted (tus termination)", registry=REGISTRY)
UPLOADS_EXPIRED = Counter("tusmedia_uploads_expired", "Unfinished uploads removed as expired", registry=REGISTRY)
UPLOADS_ACTIVE = Gauge("tusmedia_uploads_active", "Upload requests receiving body bytes right now", registry=REGISTRY)

LOCK_WAITS = Counter(
    "tusmedia_lock_waits",
    "Requests that found their upload's lock taken, by whether they got it (acquired) or not (busy)",
    ["outcome"],
    registry=REGISTRY,
)
LOCK_WAIT_DURATION = Histogram(
    "tusmedia_lock_wait_seconds",
    "How long requests that found their upload's lock taken waited",
    buckets=LOCK_WAIT_BUCKETS,
    registry=REGISTRY,
)
LOCK_HANDOVERS = Counter(
    "tusmedia_lock_handovers", "Stalled lock holders interrupted for another request", registry=REGISTRY
)

PROCESSING_DURATION = Histogram(
    "tusmedia_processing_duration_seconds",
    "Media processing time of attempts that ended ready or failed, by detected type",
    ["type"],
    buckets=PROCESSING_BUCKETS,
    registry=REGISTRY,
)
JOBS = Counter(
    "tusmedia_jobs",
    "Media job attempts by outcome: ready, failed, retried, superseded",
    ["outcome"],
    registry=REGISTRY,
)

WEBHOOK_DELIVERIES = Counter(
    "tusmedia_webhook_deliveries", "Webhook delivery attempts by outcome", ["outcome"], registry=REGISTRY
)

UNKNOWN_TYPE = "unknown"


# Where job outcomes go instead of this process's registry: the embedded worker's child sends them to
# the server, whose /metrics reports them.
_job_sink: Callable[[str, str | None, float | None], None] | None = None


def send_jobs_to(sink: Callable[[str, str | None, float | None], None]) -> None:
    global _job_sink
    _job_sink = sink


def record_job(outcome: str, *, detected_type: str | None = None, seconds: float | None = None) -> None:
    """One media job attempt ended; ``seconds`` is its processing time when it ran to an answer."""
    if _job_sink is not None:
        _job_sink(outcome, detected_type, seconds)
        return
    JOBS.labels(outcome).inc()
    if seconds is not None:
        PROCESSING_DURATION.labels(detected_type or UNKNOWN_TYPE).observe(seconds)


def record_termination(reason: str) -> None:
    (UPLOADS_EXPIRED if reason == "expired" else UPLOADS_TERMINATED).inc()


class LockMetrics:
    """The upload locks' observer (``app.tus.locks.LockObserver``): counts waits and hand-overs."""

    def waited(self, seconds: float, acquired: bool) -> None:
        LOCK_WAITS.labels("acquired" if acquired else "busy").inc()
        LOCK_WAIT_DURATION.observe(seconds)

    def handed_over(self) -> None:
        LOCK_HANDOVERS.inc()
