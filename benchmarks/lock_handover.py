"""How long a client that reconnects waits while its old PATCH still holds the upload.

A real server is started; for each round a raw socket declares a body, sends part of it and goes
quiet with the connection open (a phone that walked out of Wi-Fi), then a new client sends HEAD.
The figure is the HEAD's latency: the hand-over (the old request notices it has been stalled for
0.25 s, is interrupted, keeps its bytes and answers) plus an ordinary HEAD.

    python benchmarks/lock_handover.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.servers import TUS, Server, create_upload, start_server


def one_round(client: httpx.Client, server: Server) -> float:
    location = create_upload(client, server, 1000)
    upload_id = location.rsplit("/", 1)[1]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as stalled:
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
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tusmedia-handover-") as directory:
        server = start_server(Path(directory) / "data")
        try:
            with httpx.Client(timeout=10) as client:
                client.head(server.files_url + "AAAAAAAAAAAAAAAAAAAAAA", headers=TUS)  # warm up
                times = [one_round(client, server) for _ in range(arguments.rounds)]
        finally:
            server.stop()
    times_ms = sorted(1000 * value for value in times)
    print(f"hand-over + HEAD over {arguments.rounds} rounds (client silent 50 ms before the HEAD):")
    print(f"  median {statistics.median(times_ms):.0f} ms, min {times_ms[0]:.0f} ms, max {times_ms[-1]:.0f} ms")


if __name__ == "__main__":
    main()
