"""``tusmedia``: serve the uploads, or run media workers as separate processes."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from app.observability.logs import configure_logging
from config import Settings, load_settings


def _serve(settings: Settings, arguments: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app
    from app.memory import limit_malloc_arenas
    from app.server import UploadServer

    options: dict[str, Any] = {
        "host": arguments.host or settings.host,
        "port": arguments.port if arguments.port is not None else settings.port,
        "log_level": settings.log_level,
        "proxy_headers": settings.trust_proxy_headers,
        "forwarded_allow_ips": _forwarded_allow_ips(settings),
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
        # Our own access log line replaces uvicorn's, which would log query strings (signed links).
        "access_log": False,
        # No WebSocket routes: not loading a WebSocket implementation saves its memory.
        "ws": "none",
    }
    if arguments.reload:
        # Reload needs an import string; the app then reads its settings from the environment again.
        uvicorn.run("app.main:app", reload=True, **options)
        return 0
    limit_malloc_arenas()  # before any thread starts
    _announce_first_admin_token(settings)
    app = create_app(settings)
    # log_config=None: uvicorn's loggers go through our handler (request ids, LOG_FORMAT) like any other.
    server_config = uvicorn.Config(app, log_config=None, **options)
    UploadServer(server_config, app.state.upload_locks.interrupt_all).run()
    return 0


def _announce_first_admin_token(settings: Settings) -> None:
    import asyncio

    from app.auth.commands import first_admin_token

    issued = asyncio.run(first_admin_token(settings))
    if issued is not None:
        # Printed, never logged: this is the one time the secret exists outside the client.
        print(
            "No API token existed yet, so tusmedia made an admin token. It is shown only now; keep it.\n"
            "Send it as 'Authorization: Bearer <token>'; make more with: tusmedia token create --user NAME [--admin]\n"
            f"{issued.token}",
            flush=True,
        )


def _token(settings: Settings, arguments: argparse.Namespace) -> int:
    import asyncio

    from app.auth import commands

    if arguments.action == "create":
        issued = asyncio.run(commands.create_token(settings, arguments.user, arguments.admin, arguments.expires))
        role = "admin" if issued.is_admin else "user"
        expiry = f"expires {issued.expires_at}" if issued.expires_at else "does not expire"
        print(f"token {issued.id} for {role} {issued.subject!r}, {expiry}; shown only now:")
        print(issued.token)
        return 0
    if arguments.action == "list":
        for row in asyncio.run(commands.list_tokens(settings)):
            state = f"revoked {row['revoked_at']}" if row["revoked_at"] else f"expires {row['expires_at'] or 'never'}"
            role = "admin" if row["is_admin"] else "user"
            print(
                f"{row['id']}  {role:5}  {row['subject']}  created {row['created_at']}  "
                f"last used {row['last_used_at'] or 'never'}  {state}"
            )
        return 0
    if asyncio.run(commands.revoke_token(settings, arguments.id)):
        print(f"revoked token {arguments.id}")
        return 0
    print(f"tusmedia token revoke: no token {arguments.id!r} that is not revoked already", file=sys.stderr)
    return 1


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
            f"tusmedia cleanup: a tusmedia server is running on {settings.local_store_dir} and removes expired uploads "
            "itself every CLEANUP_INTERVAL seconds; without REDIS_URL only it may, so stop it first or leave it to it",
            file=sys.stderr,
        )
        return 1
    print(f"removed {len(removed)} expired upload(s)")
    return 0


def _worker(settings: Settings, arguments: argparse.Namespace) -> int:
    if settings.embedded_worker:
        print(
            "tusmedia worker: no broker is configured, so `tusmedia serve` runs the media jobs itself.\n"
            "Set REDIS_URL (or BROKER_URL) for the server and the workers to run them separately.",
            file=sys.stderr,
        )
        return 2
    from app.observability.worker import serve_worker_metrics
    from workers.broker import create_broker, rabbitmq_job_problem, start_worker
    from workers.media import TIME_LIMIT_BACKSTOP_SECONDS, declare_actors
    from workers.webhooks import declare_webhook_actors

    broker = create_broker(settings)  # connects only when first used
    longest_job = settings.media_job_time_limit_seconds + TIME_LIMIT_BACKSTOP_SECONDS
    problem = rabbitmq_job_problem(broker, settings, longest_job)
    if problem is not None:
        print(f"tusmedia worker: {problem}", file=sys.stderr)
        return 2
    actors = declare_actors(broker, settings)
    webhooks = declare_webhook_actors(broker, settings)
    metrics_server = serve_worker_metrics(settings, broker, (actors.process_media.queue_name,))
    concurrency = arguments.concurrency or settings.media_worker_concurrency
    worker = start_worker(broker, concurrency)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    logging.getLogger(__name__).info("media worker running with %d thread(s)", concurrency)
    stop.wait()
    worker.stop()
    webhooks.close()
    if metrics_server is not None:
        metrics_server.shutdown()
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
    if requeued and settings.embedded_worker:
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

    token = commands.add_parser("token", help="make, list and revoke API tokens")
    token.set_defaults(run=_token)
    actions = token.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="make a token and print it (the last line) once")
    create.add_argument("--user", required=True, help="the user the token speaks for; uploads are owned by this name")
    create.add_argument("--admin", action="store_true", help="an admin token: sees and acts on every upload")
    create.add_argument("--expires", type=float, metavar="DAYS", help="days until the token expires (default: never)")
    actions.add_parser("list", help="every token: id, role, user, created, last used, expiry or revocation")
    revoke = actions.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("id", help="the token's id, as `token list` shows it")

    again = commands.add_parser("reprocess", help="queue assets for processing again")
    again.add_argument("ids", nargs="*", help="asset (upload) ids (an older id that begins with - goes after --)")
    again.add_argument("--failed", action="store_true", help="every asset whose processing failed")
    again.set_defaults(run=_reprocess)
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    settings = load_settings(arguments.env_file)
    configure_logging(settings.log_level, settings.log_format)
    return arguments.run(settings, arguments)


if __name__ == "__main__":
    sys.exit(main())
