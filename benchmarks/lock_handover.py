"""How long a client that reconnects waits while its old PATCH still holds the upload.

A real server is started; for each round a raw socket declares a body, sends part of it and goes
quiet with the connection open (a phone that walked out of Wi-Fi), then a new client sends HEAD.
The figure is the HEAD's latency: the hand-over (the old request notices it has been stalled for
0.25 s, is interrupted, keeps its bytes and answers) plus an ordinary HEAD.

With ``--redis-url``, two server processes share the upload directory, the database and Redis: the
stalled PATCH goes to one and the HEAD to the other, so the hand-over crosses processes over pub/sub.

    python benchmarks/lock_handover.py [--rounds 20] [--redis-url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.servers import TUS, Server, create_upload, start_server


def one_round(client: httpx.Client, holder: Server, newcomer: Server) -> float:
    upload_id = create_upload(client, holder, 1000).rsplit("/", 1)[1]
    location = newcomer.files_url + upload_id
    with socket.create_connection(("127.0.0.1", holder.port), timeout=10) as stalled:
        stalled.sendall(
            (
                f"PATCH /files/{upload_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
                "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: 1000\r\n\r\n"
            ).encode()
            + b"z" * 400
        )
        time.sleep(0.05)  # the 400 bytes reach the server; from here on the client is silent
        started = time.perf_counter()
        response = client.head(location, headers=TUS)
        elapsed = time.perf_counter() - started
    assert response.headers["Upload-Offset"] == "400", response.headers
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--redis-url", help="share locks through this Redis and hand over between two processes")
    arguments = parser.parse_args()
    settings = {}
    if arguments.redis_url:
        settings = {"REDIS_URL": arguments.redis_url, "QUEUE_NAMESPACE": f"handover-bench-{uuid.uuid4().hex[:8]}"}
    with tempfile.TemporaryDirectory(prefix="tusmedia-handover-") as directory:
        servers = [start_server(Path(directory) / "data", settings)]
        try:
            if arguments.redis_url:
                servers.append(start_server(Path(directory) / "data", settings))
            with httpx.Client(timeout=10) as client:
                for server in servers:
                    client.head(server.files_url + "AAAAAAAAAAAAAAAAAAAAAA", headers=TUS)  # warm up
                times = [one_round(client, servers[0], servers[-1]) for _ in range(arguments.rounds)]
        finally:
            for server in servers:
                server.stop()
    times_ms = sorted(1000 * value for value in times)
    where = "between two processes over Redis" if arguments.redis_url else "within one process"
    print(f"hand-over + HEAD {where}, {arguments.rounds} rounds (client silent 50 ms before the HEAD):")
    print(f"  median {statistics.median(times_ms):.0f} ms, min {times_ms[0]:.0f} ms, max {times_ms[-1]:.0f} ms")


if __name__ == "__main__":
    main()
