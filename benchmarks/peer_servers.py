"""The servers of ``peers.py``: how each is started, and how a workload speaks to it."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import subprocess
import sys
import threading
import time
import traceback
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from harness import (
    HOST,
    OFFSET_CONTENT_TYPE,
    REPO_ROOT,
    TUS,
    ServerProcess,
    embedded_env,
    free_port,
    python_command,
    start_server,
)
from http_load import Response
from upload_throughput import BaselineTarget, TusTarget, UploadTarget

BENCHMARKS = Path(__file__).resolve().parent
TUS_NODE = BENCHMARKS / "tus_node"
PEERS_SCRIPT = BENCHMARKS / "peers.py"
SLOW_CALLBACK_SECONDS = 0.02
PROCESSING_WAIT_SECONDS = 120
# Big enough for the 1 GiB uploads; the only setting tusmedia gets besides its data directory.
MAX_FILE_SIZE = 2 * 1024 * 1024 * 1024


class Peer:
    """A server under test, as the workloads see it; subclasses say what differs."""

    name: str
    server: ServerProcess
    created_status = 201
    head_status = 200

    def post_path(self) -> str:
        return "/files/"

    def creation_headers(self, length: int, first_bytes: int, number: int) -> dict[str, str]:
        headers = {**TUS, "Upload-Length": str(length), "Upload-Metadata": _metadata(f"photo-{number}.jpg")}
        if first_bytes:
            headers["Content-Type"] = OFFSET_CONTENT_TYPE
        return headers

    def upload_path(self, response: Response, post_path: str) -> str:
        return urlsplit(response.header("location")).path

    def patch_headers(self, offset: int) -> dict[str, str]:
        return {**TUS, "Content-Type": OFFSET_CONTENT_TYPE, "Upload-Offset": str(offset)}

    def head_headers(self) -> dict[str, str]:
        return dict(TUS)

    def offset_of(self, response: Response, expected: int) -> int:
        return int(response.header("upload-offset"))

    def big_target(self) -> UploadTarget:
        raise NotImplementedError

    def processing_done(self) -> bool:
        return True


class BaselinePeer(Peer):
    """Appends each body to ``/files/<name>``; knows no offsets, so the client's own count stands in."""

    name = "baseline"
    created_status = 204
    head_status = 204

    def __init__(self, server: ServerProcess) -> None:
        self.server = server

    def post_path(self) -> str:
        return f"/files/{uuid.uuid4().hex}"

    def upload_path(self, response: Response, post_path: str) -> str:
        return post_path

    def offset_of(self, response: Response, expected: int) -> int:
        return expected

    def big_target(self) -> UploadTarget:
        return BaselineTarget(self.server)


class TusPeer(Peer):
    def __init__(self, name: str, server: ServerProcess, stored_dir: Path, token: str = "", admin: str = "") -> None:
        self.name = name
        self.server = server
        self.stored_dir = stored_dir
        self.auth = {"Authorization": f"Bearer {token}"} if token else {}
        self.admin_auth = {"Authorization": f"Bearer {admin}"} if admin else {}

    def creation_headers(self, length: int, first_bytes: int, number: int) -> dict[str, str]:
        return {**super().creation_headers(length, first_bytes, number), **self.auth}

    def patch_headers(self, offset: int) -> dict[str, str]:
        return {**super().patch_headers(offset), **self.auth}

    def head_headers(self) -> dict[str, str]:
        return {**super().head_headers(), **self.auth}

    def big_target(self) -> UploadTarget:
        return TusTarget(self.server, self.stored_dir, self.auth)

    def processing_done(self) -> bool:
        return not self.admin_auth or self.unfinished_jobs() == 0

    def unfinished_jobs(self) -> int:
        """Assets queued or processing, from the admin's ``/api/stats``."""
        response = httpx.get(f"{self.server.base_url}/api/stats", headers=self.admin_auth, trust_env=False)
        response.raise_for_status()
        statuses = response.json()["by_status"]
        return sum(statuses.get(status, {}).get("count", 0) for status in ("queued", "processing"))


class DebugTusmedia(TusPeer):
    def __init__(self, server: ServerProcess, stored_dir: Path, token: str, admin: str, report: Path) -> None:
        super().__init__("tusmedia (asyncio debug)", server, stored_dir, token, admin)
        self.report = report

    def slow_callbacks(self) -> list[str]:
        return _lines(self.report)

    def stalls(self) -> list[str]:
        """Where the loop thread was, each time the slow-callback watch caught it stalled."""
        return _lines(self.report.with_name("stalls.txt"))


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _metadata(filename: str) -> str:
    def encoded(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return f"filename {encoded(filename)},filetype {encoded('image/jpeg')}"


def wait_for_processing(peer: Peer, timeout: float = PROCESSING_WAIT_SECONDS) -> None:
    """Lets the media jobs of one workload finish before the next starts, so none measures another's queue."""
    deadline = time.monotonic() + timeout
    while not peer.processing_done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{peer.name}: media jobs still unfinished after {timeout:.0f}s")
        time.sleep(0.2)


# --- starting them -------------------------------------------------------------------------------------------


def start_peers(work_dir: Path) -> list[Peer]:
    """baseline, tus-node and tusmedia, in that order."""
    peers: list[Peer] = []
    try:
        peers.append(start_baseline(work_dir))
        peers.append(start_tus_node(work_dir))
        peers.append(start_tusmedia(work_dir))
    except BaseException:
        for peer in peers:
            peer.server.stop()
        raise
    return peers


def start_baseline(work_dir: Path) -> BaselinePeer:
    port = free_port()
    data_dir = work_dir / "baseline"
    command = python_command(str(PEERS_SCRIPT), "--baseline-server", str(port), str(data_dir))
    return BaselinePeer(start_server("baseline", command, port, data_dir, embedded_env(data_dir)))


def start_tus_node(work_dir: Path) -> TusPeer:
    if not (TUS_NODE / "node_modules" / "@tus" / "server").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=TUS_NODE, check=True)
    port = free_port()
    data_dir = work_dir / "tus-node"
    env = {**os.environ, "NODE_ENV": "production"}
    server = start_server("tus-node", ["node", "server.mjs", str(port), str(data_dir)], port, data_dir, env, TUS_NODE)
    return TusPeer("tus-node", server, data_dir)


def start_tusmedia(work_dir: Path) -> TusPeer:
    data_dir = work_dir / "tusmedia"
    env = tusmedia_env(data_dir)
    token, admin = make_token(env, "bench"), make_token(env, "bench-admin", "--admin")
    port = free_port()
    command = python_command("-m", "app.cli", "serve", "--port", str(port))
    return TusPeer(
        "tusmedia", start_server("tusmedia", command, port, data_dir, env), data_dir / "uploads", token, admin
    )


def start_debug_tusmedia(work_dir: Path) -> DebugTusmedia:
    data_dir = work_dir / "tusmedia-debug"
    env = tusmedia_env(data_dir)
    token, admin = make_token(env, "bench"), make_token(env, "bench-admin", "--admin")
    port = free_port()
    report = work_dir / "slow-callbacks.txt"
    command = python_command(str(PEERS_SCRIPT), "--debug-server", str(port), str(report))
    server = start_server("tusmedia-debug", command, port, data_dir, env)
    return DebugTusmedia(server, data_dir / "uploads", token, admin, report)


def tusmedia_env(data_dir: Path) -> dict[str, str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    return embedded_env(data_dir, MAX_FILE_SIZE=str(MAX_FILE_SIZE))


def make_token(env: dict[str, str], user: str, *options: str) -> str:
    command = python_command("-m", "app.cli", "token", "create", "--user", user, *options)
    printed = subprocess.run(command, cwd=REPO_ROOT, env=env, check=True, capture_output=True, text=True).stdout
    return printed.strip().splitlines()[-1]


# --- tusmedia with asyncio's slow-callback reporting: runs in its own process ----------------------------------


class SlowCallbackRecorder(logging.Handler):
    """Appends each of asyncio's "Executing <callback> took N seconds" warnings to a file, one per line."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.WARNING)
        self.path = path

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, str) and record.msg.startswith("Executing"):
            with open(self.path, "a") as report:
                report.write(record.getMessage().replace("\n", " ") + "\n")


class StallWatch:
    """Names what the event loop was doing when it stalled: a heartbeat on the loop, and a thread that,
    when the beat is late by more than the slow-callback threshold, writes the loop thread's stack."""

    def __init__(self, path: Path, threshold: float = SLOW_CALLBACK_SECONDS) -> None:
        self.path = path
        self.threshold = threshold
        self.last_beat = time.monotonic()
        self.loop_thread = threading.get_ident()

    def beat(self, loop: asyncio.AbstractEventLoop) -> None:
        self.last_beat = time.monotonic()
        loop.call_later(self.threshold / 4, self.beat, loop)

    def watch(self) -> None:
        reported_beat = 0.0
        while True:
            time.sleep(self.threshold / 4)
            beat = self.last_beat
            if time.monotonic() - beat > self.threshold and beat != reported_beat:
                reported_beat = beat
                frame = sys._current_frames().get(self.loop_thread)
                where = " <- ".join(
                    f"{Path(entry.filename).name}:{entry.lineno} {entry.name}"
                    for entry in reversed(traceback.extract_stack(frame)[-9:])
                )
                with open(self.path, "a") as stalls:
                    stalls.write(where + "\n")


def _without_debug_mode_stacks() -> None:
    """Debug mode records the creator's stack for every callback, future and task, and for each frame
    asks linecache whether its source file changed (a stat per frame): in earlier runs nearly every
    callback it reported as slow, and most stalls the watch thread caught, were in that bookkeeping.
    Counting slow callbacks needs none of it: the Python-level stacks are left empty, and the C
    futures' and tasks' (which call ``traceback.extract_stack`` themselves) read lines from the cache
    without the stats, the files being the same for the whole run."""
    import linecache
    from asyncio import format_helpers

    format_helpers.extract_stack = lambda *args, **kwargs: traceback.StackSummary()  # type: ignore[assignment]
    linecache.checkcache = lambda *args, **kwargs: None  # type: ignore[assignment]


def serve_tusmedia_in_debug_mode(port: int, report: Path) -> None:
    import uvicorn

    from app.main import create_app
    from app.memory import limit_malloc_arenas
    from app.observability.logs import configure_logging
    from config import load_settings

    settings = load_settings(env_file=None)
    configure_logging(settings.log_level, settings.log_format)
    logging.getLogger("asyncio").addHandler(SlowCallbackRecorder(report))
    limit_malloc_arenas()
    app = create_app(settings)
    config = uvicorn.Config(app, host=HOST, port=port, log_config=None, access_log=False, ws="none")

    stalls = StallWatch(report.with_name("stalls.txt"))
    _without_debug_mode_stacks()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        loop.slow_callback_duration = SLOW_CALLBACK_SECONDS
        sys.set_coroutine_origin_tracking_depth(0)  # debug mode turned it on: see _without_debug_mode_stacks
        stalls.beat(loop)
        threading.Thread(target=stalls.watch, daemon=True).start()
        await uvicorn.Server(config).serve()

    asyncio.run(serve(), debug=True)
