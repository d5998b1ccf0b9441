"""``tusmedia``: serve the uploads, or run media workers as separate processes."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from config import Settings, load_settings


def _serve(settings: Settings, arguments: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app
    from app.server import UploadServer

    options: dict[str, Any] = {
        "host": arguments.host or settings.host,
        "port": arguments.port if arguments.port is not None else settings.port,
        "log_level": settings.log_level,
        "proxy_headers": settings.trust_proxy_headers,
        "forwarded_allow_ips": _forwarded_allow_ips(settings),
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
    }
    if arguments.reload:
        # Reload needs an import string; the app then reads its settings from the environment again.
        uvicorn.run("app.main:app", reload=True, **options)
        return 0
    app = create_app(settings)
    UploadServer(uvicorn.Config(app, **options), app.state.upload_locks.interrupt_all).run()
    return 0


def _forwarded_allow_ips(settings: Settings) -> str | None:
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1 by default; TRUST_PROXY_HEADERS decides instead.
    return "*" if settings.trust_proxy_headers else None


def _cleanup(settings: Settings, arguments: argparse.Namespace) -> int:
    import asyncio

    from app.maintenance import clean_up_expired
    from app.storage import DirectoryInUse

    if settings.upload_expiration_seconds <= 0:
        print("tusmedia cleanup: UPLOAD_EXPIRATION is 0, so uploads never expire", file=sys.stderr)
        return 0
    try:
        removed = asyncio.run(clean_up_expired(settings))
    except DirectoryInUse:
        print(
            f"tusmedia cleanup: a tusmedia server is running on {settings.upload_dir} and removes expired uploads "
            "itself every CLEANUP_INTERVAL seconds; without REDIS_URL only it may, so stop it first or leave it to it",
            file=sys.stderr,
        )
        return 1
    print(f"removed {len(removed)} expired upload(s)")
    return 0


def _worker(settings: Settings, arguments: argparse.Namespace) -> int:
    if settings.in_process_worker:
        print(
            "tusmedia worker: no broker is configured, so `tusmedia serve` runs the media jobs itself.\n"
            "Set REDIS_URL (or BROKER_URL) for the server and the workers to run them separately.",
            file=sys.stderr,
        )
        return 2
    from workers.broker import create_broker, start_worker
    from workers.media import declare_actors

    broker = create_broker(settings)
    declare_actors(broker, settings)
    concurrency = arguments.concurrency or settings.media_worker_concurrency
    worker = start_worker(broker, concurrency)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    logging.getLogger(__name__).info("media worker running with %d thread(s)", concurrency)
    stop.wait()
    worker.stop()
    broker.close()
    return 0


def _reprocess(settings: Settings, arguments: argparse.Namespace) -> int:
    import asyncio

    from app.maintenance import reprocess

    if bool(arguments.ids) == arguments.failed:
        print("tusmedia reprocess: name asset ids, or --failed for every failed asset", file=sys.stderr)
        return 2
    requeued = asyncio.run(reprocess(settings, None if arguments.failed else arguments.ids))
    print(f"queued {len(requeued)} asset(s) for processing")
    if arguments.ids and len(requeued) < len(arguments.ids):
        skipped = sorted(set(arguments.ids) - set(requeued))
        print(f"not queued (unknown, or still uploading or processing): {' '.join(skipped)}", file=sys.stderr)
    if requeued and settings.in_process_worker:
        print(f"no broker is configured: the running server sends them within {settings.recovery_interval_seconds:g} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tusmedia", description=__doc__)
    parser.add_argument("--env-file", default=".env", help="settings file read before the environment (default: .env)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the tus server (and, with no broker configured, the media worker)")
    serve.add_argument("--host", help="address to listen on (default: HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: PORT, 1080)")
    serve.add_argument("--reload", action="store_true", help="restart when the code changes (development)")
    serve.set_defaults(run=_serve)

    worker = commands.add_parser("worker", help="run media workers against the configured broker")
    worker.add_argument("--concurrency", type=int, help="worker threads (default: MEDIA_WORKER_CONCURRENCY, 2)")
    worker.set_defaults(run=_worker)

    cleanup = commands.add_parser("cleanup", help="remove expired unfinished uploads now (the server also does it)")
    cleanup.set_defaults(run=_cleanup)

    again = commands.add_parser("reprocess", help="queue assets for processing again")
    again.add_argument("ids", nargs="*", help="asset (upload) ids")
    again.add_argument("--failed", action="store_true", help="every asset whose processing failed")
    again.set_defaults(run=_reprocess)
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    settings = load_settings(arguments.env_file)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return arguments.run(settings, arguments)


if __name__ == "__main__":
    sys.exit(main())
