"""The application: ``create_app(settings)`` wires the layers; ``app`` serves ``uvicorn app.main:app``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from app.api.admin import AdminApi
from app.api.assets import ApiError, AssetsApi, render_api_error
from app.api.openapi import openapi_routes
from app.api.stats import StatsApi
from app.assets.hooks import pre_create_hook
from app.assets.lifecycle import UploadLifecycle
from app.assets.quotas import Quotas
from app.assets.recovery import DEBRIS_AGE_SECONDS, Recovery
from app.auth import AuthError
from app.auth.setup import build_authentication
from app.db import open_database
from app.db.migrations import migrate
from app.memory import trim_malloc_periodically
from app.notify.outbox import announce
from app.notify.setup import build_notify
from app.observability.metrics import LockMetrics
from app.observability.setup import observability_routes, request_middleware
from app.storage import UploadStore
from app.storage.configured import bucket_derivatives, upload_store
from app.tus.context import TusContext, TusSettings
from app.tus.errors import TusError, render_tus_error, tus_headers
from app.tus.expiration import remove_expired_periodically
from app.tus.locks import Locks, UploadLocks
from app.tus.routes import tus_routes
from app.web import WebPage
from config import Settings, load_settings
from workers.broker import sends_in_memory
from workers.embedded import EmbeddedWorker, ForwardingBroker, server_broker
from workers.media import declare_actors

log = logging.getLogger(__name__)

# How far the status API's copy of an upload's offset may lag behind the bytes on disk.
OFFSET_RECORD_INTERVAL_SECONDS = 1.0

TUS_REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    "Tus-Resumable",
    "Upload-Length",
    "Upload-Offset",
    "Upload-Metadata",
    "Upload-Defer-Length",
    "Upload-Concat",
    "Upload-Checksum",
    "Upload-Draft-Interop-Version",
    "Upload-Complete",
    "Upload-Incomplete",
    "Content-Disposition",
    "X-HTTP-Method-Override",
    "X-Requested-With",
    "X-Request-ID",
)
TUS_RESPONSE_HEADERS = (
    "Location",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Expires",
    "Upload-Concat",
    "Upload-Defer-Length",
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Checksum-Algorithm",
    "Upload-Draft-Interop-Version",
    "Upload-Complete",
    "Upload-Incomplete",
    "Upload-Limit",
    "Accept-Patch",
    "Content-Range",
    "Content-Disposition",
    "X-Request-ID",
)
CORS_PREFLIGHT_MAX_AGE_SECONDS = 86400


def upload_locks(settings: Settings) -> Locks:
    """In-process locks; shared through Redis when REDIS_URL is set, so several processes can serve."""
    local = UploadLocks(settings.lock_wait_seconds, LockMetrics())
    if settings.redis_url:
        from app.tus.shared_locks import SharedUploadLocks  # with the Redis client: only where configured

        return SharedUploadLocks(local, settings.redis_url, settings.queue_namespace)
    return local


def tus_context(settings: Settings, store: UploadStore, lifecycle: UploadLifecycle, locks: Locks) -> TusContext:
    return TusContext(
        store=store,
        events=lifecycle,
        locks=locks,
        settings=TusSettings(
            base_path=settings.tus_base_path,
            max_size=settings.max_file_size,
            max_metadata_size=settings.max_metadata_size,
            expiration_seconds=settings.upload_expiration_seconds,
            trust_proxy_headers=settings.trust_proxy_headers,
            relative_location=settings.relative_location,
            network_timeout_seconds=settings.network_timeout_seconds,
        ),
    )


def cors_middleware(settings: Settings) -> Middleware:
    """Browser pages on other origins may use every tus feature and read every tus header."""
    return Middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_allow_origins),
        allow_methods=["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=[*TUS_REQUEST_HEADERS, *settings.cors_extra_headers],
        expose_headers=list(TUS_RESPONSE_HEADERS),
        max_age=CORS_PREFLIGHT_MAX_AGE_SECONDS,
    )


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()
    database = open_database(settings.database_url, settings.sqlite_busy_timeout_seconds)
    store = upload_store(settings)
    derivatives_in_bucket = bucket_derivatives(settings, store)
    broker = server_broker(settings)
    actors = declare_actors(broker, settings)

    send_inline = sends_in_memory(broker)

    async def dispatch(upload_id: str) -> None:
        if send_inline:
            actors.process_media.send(upload_id)  # a put into an in-process queue: no thread needed
        else:
            # Sending may block on the network (Redis, RabbitMQ): keep it off the event loop.
            await asyncio.to_thread(actors.process_media.send, upload_id)

    lifecycle = UploadLifecycle(
        database,
        dispatch,
        settings.derivatives_dir,
        OFFSET_RECORD_INTERVAL_SECONDS,
        quotas=Quotas.from_settings(settings),
        pre_create_hook=pre_create_hook(settings),
        bucket_derivatives=derivatives_in_bucket,
    )
    locks = upload_locks(settings)
    tus = tus_context(settings, store, lifecycle, locks)

    def is_tus_path(path: str) -> bool:
        return path.startswith(settings.tus_base_path.rstrip("/"))

    def refusal_style(path: str) -> tuple[bool, dict[str, str]]:
        return (True, tus_headers()) if is_tus_path(path) else (False, {})

    authentication = build_authentication(settings, database, refusal_style)
    assets = AssetsApi(database, settings, authentication.links, derivatives_in_bucket)
    notify = build_notify(settings, database, broker, authentication.links)
    recovery = Recovery(database, store, lifecycle, resend_webhooks=notify.resend_due)
    admin = AdminApi(database, tus, lifecycle)
    status = StatsApi(database, settings, store, lifecycle, broker, actors.process_media.queue_name)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The store's own folder is the store's to make (exclusive_use and start do).
        for directory in (settings.data_dir, settings.derivatives_dir):
            directory.mkdir(parents=True, exist_ok=True)
        exclusive = contextlib.ExitStack()
        await locks.start()
        if not locks.shared:
            # In-process locks cannot see another process's requests: be the only server here.
            exclusive.enter_context(store.exclusive_use())
        await store.start()
        await database.connect()
        worker = None
        background: list[asyncio.Task[None]] = []
        try:
            await migrate(database)
            await notify.start()
            if isinstance(broker, ForwardingBroker):
                worker = EmbeddedWorker(settings, broker, on_event=lambda upload_id: announce(upload_id, 0))
                await asyncio.to_thread(worker.start)
                background.append(asyncio.create_task(worker.supervise()))
            # Alone on the upload directory (no shared locks), anything half-written is a crash's debris.
            alone = not locks.shared
            await recovery.sweep(queued_for_seconds=None, debris_older_than_seconds=0 if alone else DEBRIS_AGE_SECONDS)
            interval, queued_for = settings.recovery_interval_seconds, settings.recovery_queued_after_seconds
            background.append(asyncio.create_task(recovery.run_periodically(interval, queued_for)))
            if settings.upload_expiration_seconds > 0:
                background.append(
                    asyncio.create_task(remove_expired_periodically(tus, settings.cleanup_interval_seconds))
                )
            background.append(asyncio.create_task(trim_malloc_periodically()))
            # Everything alive now (modules, settings, the app) lives as long as the process: out of the
            # collector's sight, a full collection walks only what requests made since, instead of
            # holding the event loop for tens of milliseconds walking every object ever imported.
            gc.freeze()
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await lifecycle.offsets.flush()
            await lifecycle.close()
            await notify.stop()
            if worker is not None:
                await asyncio.to_thread(worker.stop)
            await asyncio.to_thread(broker.close)
            # Last: an open SQLite connection owns a non-daemon thread that would keep the process alive.
            await database.disconnect()
            await store.close()
            await locks.stop()
            exclusive.close()

    async def render_unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        headers = tus_headers() if is_tus_path(request.url.path) else {}
        return PlainTextResponse("internal server error\n", status_code=500, headers=headers)

    app = Starlette(
        routes=[
            *tus_routes(tus),
            *assets.routes(),
            *notify.routes(),
            *admin.routes(),
            *status.routes(),
            *openapi_routes(settings),
            *WebPage(settings).routes(),
            *observability_routes(
                settings,
                database,
                broker,
                (actors.process_media.queue_name,),
                locks,
                store.ping if settings.uses_s3 else None,  # the filestore's disk has a check of its own
            ),
        ],
        # CORS outermost, so a preflight is answered before credentials are asked for.
        # Only the request id and metrics wrap it, so every answer (preflights and refusals too) has both.
        middleware=[request_middleware(settings), cors_middleware(settings), authentication.middleware],
        lifespan=lifespan,
        exception_handlers={
            TusError: render_tus_error,
            ApiError: render_api_error,
            AuthError: authentication.render,
            Exception: render_unexpected,
        },
    )
    # Clients do not follow redirects on POST or PATCH; a path that is not a route is simply not found.
    app.router.redirect_slashes = False
    # For the server's shutdown, which must stop open PATCH bodies before waiting for requests to end.
    app.state.upload_locks = locks
    return app


def __getattr__(name: str) -> Starlette:
    # ``uvicorn app.main:app`` builds the app from the environment on first access, not at import.
    if name == "app":
        return create_app()
    raise AttributeError(name)
