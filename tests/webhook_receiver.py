"""A webhook endpoint on 127.0.0.1 for the tests, and the settings that make retries quick."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.servers import free_port

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
# Small backoff and timeout, a sweep every second: minutes of production behaviour in seconds.
FAST_RETRIES = {
    "WEBHOOK_SECRET": SECRET,
    "WEBHOOK_MIN_BACKOFF": "0.3",
    "WEBHOOK_MAX_BACKOFF": "1.5",
    "WEBHOOK_TIMEOUT": "2",
    "RECOVERY_INTERVAL": "1",
}


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int
    at: float


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1: answers 500 to the first ``failures`` requests, and holds
    a request of the type ``stall_type`` (once) for ``stall_seconds`` before answering."""

    port: int = field(default_factory=free_port)
    failures: int = 2
    stall_type: str | None = None
    stall_seconds: float = 0.0
    received: list[Received] = field(default_factory=list)
    stalled: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                answer = 500 if len(receiver.received) < receiver.failures else 200
                kind = json.loads(body)["type"]
                receiver.received.append(Received(dict(self.headers), body, answer, time.monotonic()))
                if kind == receiver.stall_type and not receiver.stalled.is_set():
                    receiver.stalled.set()
                    time.sleep(receiver.stall_seconds)
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Down: connections to the port are refused until ``start`` again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def accepted_ids(self) -> set[str]:
        return {r.headers["webhook-id"] for r in self.received if r.answered == 200}
