"""Queue depth, asked of the broker at scrape time rather than counted as messages pass.

Counting sends and receives in one process cannot see what other servers sent or other workers took,
and drifts on every restart; the broker knows. Each broker is asked in its own way, and one that
cannot answer (down, or a kind we do not know) simply leaves the metric out of that scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import dq_name
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.observability.metrics import REGISTRY
from workers.broker import is_rabbitmq_broker, is_redis_broker

log = logging.getLogger(__name__)


def queue_depths(broker: dramatiq.Broker, queue_name: str) -> tuple[int, int] | None:
    """Messages (waiting, delayed) in the queue, or None when this broker cannot say."""
    reported = getattr(broker, "depths", None)
    if reported is not None:  # the embedded worker's (``workers.embedded.ForwardingBroker``), as it last said
        depths: tuple[int, int] = reported.get(queue_name, (0, 0))
        return depths
    if isinstance(broker, StubBroker):
        queues = broker.queues
        return queues[queue_name].qsize(), queues[dq_name(queue_name)].qsize()
    if is_redis_broker(broker):  # each queue is a list of message ids under the broker's namespace
        prefix = f"{broker.namespace}:"
        return int(broker.client.llen(prefix + queue_name)), int(broker.client.llen(prefix + dq_name(queue_name)))
    if is_rabbitmq_broker(broker):
        waiting, delayed, _dead = broker.get_queue_message_counts(queue_name)  # a passive declare reports them
        return waiting, delayed
    return None


class QueueDepthCollector(Collector):
    def __init__(self) -> None:
        self.broker: dramatiq.Broker | None = None
        self.queue_names: tuple[str, ...] = ()

    def watch(self, broker: dramatiq.Broker, queue_names: tuple[str, ...]) -> None:
        self.broker, self.queue_names = broker, queue_names

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("tusmedia_queue_depth", "Messages in the broker's queues", labels=["queue", "state"])
        if self.broker is not None:
            for queue_name in self.queue_names:
                try:
                    depths = queue_depths(self.broker, queue_name)
                except Exception as error:
                    log.warning("could not read the depth of queue %s: %s", queue_name, error)
                    continue
                if depths is not None:
                    depth.add_metric([queue_name, "waiting"], depths[0])
                    depth.add_metric([queue_name, "delayed"], depths[1])
        yield depth

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Registering must not ask a broker that may not be reachable yet.
        yield GaugeMetricFamily("tusmedia_queue_depth", "Messages in the broker's queues", labels=["queue", "state"])


# One per process: the registry refuses a second collector of the same name, and create_app may run
# more than once in a process (tests), each call pointing it at its own broker.
QUEUE_DEPTH = QueueDepthCollector()
REGISTRY.register(QUEUE_DEPTH)


def watch_queues(broker: dramatiq.Broker, queue_names: tuple[str, ...]) -> None:
    QUEUE_DEPTH.watch(broker, queue_names)
