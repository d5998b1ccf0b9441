"""A ``tusmedia worker``'s own metrics endpoint: the same registry, on a port of its own.

A worker process serves no HTTP otherwise, and its job outcomes and processing times live in its
own memory, so it exposes them itself (``WORKER_METRICS_PORT``). It listens on 127.0.0.1 unless
told otherwise, since this port has no authentication.
"""

from __future__ import annotations

import logging
from wsgiref.simple_server import WSGIServer

import dramatiq
from prometheus_client import start_http_server

from app.observability.metrics import REGISTRY
from app.observability.queues import watch_queues
from config import Settings

log = logging.getLogger(__name__)


def serve_worker_metrics(
    settings: Settings, broker: dramatiq.Broker, queue_names: tuple[str, ...]
) -> WSGIServer | None:
    """Start serving the metrics from a daemon thread (None when ``WORKER_METRICS_PORT`` is 0)."""
    if not settings.worker_metrics_port:
        return None
    watch_queues(broker, queue_names)
    server, _thread = start_http_server(
        settings.worker_metrics_port, addr=settings.worker_metrics_host, registry=REGISTRY
    )
    log.info("worker metrics at http://%s:%d/metrics", settings.worker_metrics_host, settings.worker_metrics_port)
    return server
