"""The broker, chosen by settings: in-memory for the embedded server, Redis or RabbitMQ when scaled out."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeGuard

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO

from config import Settings

if TYPE_CHECKING:
    from dramatiq.brokers.rabbitmq import RabbitmqBroker
    from dramatiq.brokers.redis import RedisBroker

# How long a consumer waits for a message before checking whether it should stop.
CONSUMER_POLL_MS = 250

# RabbitMQ (3.8.15 and later) closes a consumer's channel, and so takes back every message it holds,
# once a delivered message has gone unacknowledged for the queue's consumer_timeout (30 minutes by
# default). Dramatiq acknowledges a message when its job ends, holds a prefetched one until a thread
# is free, and a delayed one until its time comes. So on RabbitMQ nothing is prefetched beyond the
# threads, no message is delayed longer than this (a longer wait is left to the recovery sweep,
# which sends whatever is overdue), and a worker refuses a job time limit that could outlast the
# timeout (``rabbitmq_job_problem``).
RABBITMQ_LONGEST_DELAY_SECONDS = 600.0


def create_broker(settings: Settings) -> dramatiq.Broker:
    url = settings.broker_url
    broker: dramatiq.Broker
    if not url:
        # Messages live in this process only; rows left "queued" by a crash are re-sent by the
        # recovery sweep at the next start-up, so nothing is lost with them.
        broker = StubBroker()
    elif url.startswith(("redis://", "rediss://", "unix://")):
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url=url)
    elif url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url)
    else:
        raise ValueError(f"unsupported broker URL {url!r}: use redis://, rediss://, unix://, amqp:// or amqps://")
    broker.add_middleware(AsyncIO())
    return broker


# The Redis and RabbitMQ brokers are imported only where configured (they pull in their clients): a
# broker of a kind whose module was never imported cannot be one.


def is_redis_broker(broker: dramatiq.Broker) -> TypeGuard[RedisBroker]:
    module = sys.modules.get("dramatiq.brokers.redis")
    return module is not None and isinstance(broker, module.RedisBroker)


def is_rabbitmq_broker(broker: dramatiq.Broker) -> TypeGuard[RabbitmqBroker]:
    module = sys.modules.get("dramatiq.brokers.rabbitmq")
    return module is not None and isinstance(broker, module.RabbitmqBroker)


def sends_in_memory(broker: dramatiq.Broker) -> bool:
    """Whether sending a message is a queue put in this process (no network to wait for)."""
    return isinstance(broker, StubBroker)


def start_worker(broker: dramatiq.Broker, concurrency: int) -> dramatiq.Worker:
    worker = dramatiq.Worker(broker, worker_threads=concurrency, worker_timeout=CONSUMER_POLL_MS)
    if is_rabbitmq_broker(broker):
        worker.queue_prefetch = concurrency  # a message is only taken when a thread is free for it
    worker.start()
    return worker


def longest_delay_seconds(broker: dramatiq.Broker) -> float | None:
    """The longest delay a message may be sent with on this broker; None: no limit."""
    return RABBITMQ_LONGEST_DELAY_SECONDS if is_rabbitmq_broker(broker) else None


def rabbitmq_job_problem(broker: dramatiq.Broker, settings: Settings, longest_job_seconds: float) -> str | None:
    """Why a worker must not start on RabbitMQ: a job that could hold its message past consumer_timeout."""
    timeout = settings.rabbitmq_consumer_timeout_seconds
    if not is_rabbitmq_broker(broker) or longest_job_seconds < timeout:
        return None
    return (
        f"a media job may hold its RabbitMQ message for {longest_job_seconds:g} s (MEDIA_JOB_TIME_LIMIT and its "
        f"backstop), which reaches RABBITMQ_CONSUMER_TIMEOUT ({timeout:g} s): RabbitMQ would take the message "
        "back mid-job. Lower MEDIA_JOB_TIME_LIMIT, or raise consumer_timeout in rabbitmq.conf and "
        "RABBITMQ_CONSUMER_TIMEOUT to match"
    )


class CloseOnShutdown(dramatiq.Middleware):
    """Run an actor's async clean-up (its database connection) on the actors' event loop when the worker
    stops: an open SQLite connection owns a thread that would keep the process alive."""

    def __init__(self, close: Callable[[], Awaitable[None]]) -> None:
        self.close = close

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(self.close())
