"""tusmedia next to its peers, in one run: a bare ASGI app, @tus/server (Node) and tusmedia on embedded defaults.

Three servers run side by side on 127.0.0.1, each in its own process:

* ``baseline``: the bare ASGI app of ``upload_throughput.py`` (appends bodies to a file, answers 204),
  under uvicorn with the same settings as tusmedia's;
* ``tus-node``: ``@tus/server`` with ``@tus/file-store`` from npm (``benchmarks/tus_node``, installed by
  this script with ``npm ci`` when missing), as their README starts them;
* ``tusmedia``: ``tusmedia serve`` with nothing configured but a data directory: SQLite, the embedded
  media worker (a child process), and access tokens (every request carries one, as a real client's would).

Workloads, repeated and interleaved (round 1 runs every workload on every server, then round 2, ...):

* ``small``: 500 uploads of 64 KiB, each one POST with creation-with-upload, over 16 connections. For
  tusmedia each is a real small JPEG, so every upload is recorded, queued and processed by the media
  pipeline (in child processes: their CPU is a row of its own, not the server's).
* ``resume``: 200 uploads begun with half their bytes (not timed); then each resumes with HEAD and a
  PATCH of the second half, over 16 connections. Latency is the HEAD+PATCH pair.
* ``1 GiB``: one upload as a single PATCH and one in 8 MiB PATCHes, over one connection, with the
  server's peak RSS sampled.

Then, tusmedia only: 200 small uploads while 20 photos of 12 MP are being processed, and a second
tusmedia started with asyncio's debug mode (``slow_callback_duration`` = 20 ms, the stdlib loop), which
runs the small, resume and photo workloads once and counts the callbacks that held its event loop
longer than 20 ms.

    python benchmarks/peers.py [--repeat 3] [--big-mib 1024]

Takes about twelve minutes with the defaults. Figures are disturbed by anything else running: the client,
the servers, the media workers and the kernel's writeback share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

from harness import MIB, cpu_seconds, descendants_cpu_seconds, rss_bytes
from peer_servers import Peer, TusPeer, start_debug_tusmedia, start_peers, wait_for_processing
from peer_workloads import (
    LoadFigures,
    make_jpeg,
    make_photo,
    measure_big,
    measure_resumes,
    measure_small,
    upload_photos,
)
from report import Report

SMALL_UPLOADS = 500
SMALL_BYTES = 64 * 1024
RESUMES = 200
CONNECTIONS = 16
PHOTOS = 20
UPLOADS_DURING_PHOTOS = 200
CHUNK_MIB = 8
DEBUG_PROCESSING_WAIT_SECONDS = 900


def run(arguments: argparse.Namespace, work_dir: Path) -> Report:
    report = Report(arguments.repeat)
    small_body = make_jpeg(SMALL_BYTES)
    peers = start_peers(work_dir)
    try:
        for peer in peers:
            report.start_rss[peer.name] = rss_bytes(peer.server.pid)
            asyncio.run(measure_small(peer, small_body, 20, CONNECTIONS))  # warm-up: lazy imports, connections
        for round_number in range(1, arguments.repeat + 1):
            for peer in peers:
                before, children_before = cpu_seconds(peer.server.pid), descendants_cpu_seconds(peer.server.pid)
                small = asyncio.run(measure_small(peer, small_body, SMALL_UPLOADS, CONNECTIONS))
                report.add(peer.name, "small", small, (cpu_seconds(peer.server.pid) - before) / SMALL_UPLOADS)
                wait_for_processing(peer)
                children_cpu = descendants_cpu_seconds(peer.server.pid) - children_before
                report.children_cpu_ms[peer.name].append(children_cpu / SMALL_UPLOADS * 1000)
                before = cpu_seconds(peer.server.pid)
                resume = asyncio.run(measure_resumes(peer, small_body, RESUMES, CONNECTIONS))
                report.add(peer.name, "resume", resume, (cpu_seconds(peer.server.pid) - before) / (2 * RESUMES))
                wait_for_processing(peer)
                for label, chunk in (("1 GiB one PATCH", 0), (f"1 GiB {CHUNK_MIB} MiB PATCHes", CHUNK_MIB * MIB)):
                    rate, peak = measure_big(peer, arguments.big_mib * MIB, chunk)
                    report.add_big(peer.name, label, rate, peak)
                print(f"  round {round_number}/{arguments.repeat} {peer.name:<9} {report.round_line(peer.name)}")
        tusmedia = peers[-1]
        photo = make_photo(work_dir / "photo.jpg")
        for _ in range(arguments.repeat):
            report.during_photos.append(asyncio.run(small_during_photos(tusmedia, photo, small_body)))
            wait_for_processing(tusmedia, timeout=300)
    finally:
        for peer in peers:
            peer.server.stop()
    report.slow_callbacks, report.stalls = count_slow_callbacks(work_dir, small_body)
    return report


async def small_during_photos(peer: Peer, photo: Path, small_body: bytes) -> tuple[LoadFigures, int]:
    await upload_photos(peer, photo, PHOTOS)
    figures = await measure_small(peer, small_body, UPLOADS_DURING_PHOTOS, CONNECTIONS)
    assert isinstance(peer, TusPeer)
    return figures, peer.unfinished_jobs()


def count_slow_callbacks(work_dir: Path, small_body: bytes) -> tuple[list[str], list[str]]:
    debug = start_debug_tusmedia(work_dir)
    try:
        asyncio.run(measure_small(debug, small_body, 20, CONNECTIONS))
        wait_for_processing(debug)
        seen_at_start, stalls_at_start = len(debug.slow_callbacks()), len(debug.stalls())
        # Back to back, the media jobs of each workload still running under the next: debug mode
        # slows everything, and the count is meant to include the loop's time beside the processing.
        asyncio.run(measure_small(debug, small_body, SMALL_UPLOADS, CONNECTIONS))
        asyncio.run(measure_resumes(debug, small_body, RESUMES, CONNECTIONS))
        asyncio.run(small_during_photos(debug, make_photo(work_dir / "photo.jpg"), small_body))
        wait_for_processing(debug, timeout=DEBUG_PROCESSING_WAIT_SECONDS)
        return debug.slow_callbacks()[seen_at_start:], debug.stalls()[stalls_at_start:]
    finally:
        debug.server.stop()


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every workload (default: 3)")
    parser.add_argument("--big-mib", type=int, default=1024, help="size of the big uploads in MiB (default: 1024)")
    parser.add_argument("--debug-server", nargs=2, metavar=("PORT", "REPORT"), help="internal: see peer_servers")
    parser.add_argument("--baseline-server", nargs=2, metavar=("PORT", "DIR"), help="internal: see peer_servers")
    arguments = parser.parse_args(argv)
    if min(arguments.repeat, arguments.big_mib) < 1:
        parser.error("--repeat and --big-mib must be at least 1")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.debug_server:
        from peer_servers import serve_tusmedia_in_debug_mode

        serve_tusmedia_in_debug_mode(int(arguments.debug_server[0]), Path(arguments.debug_server[1]))
        return 0
    if arguments.baseline_server:
        from upload_throughput import run_baseline_server

        run_baseline_server(int(arguments.baseline_server[0]), Path(arguments.baseline_server[1]))
        return 0
    work_dir = Path(tempfile.mkdtemp(prefix="tusmedia-peers-", dir="/tmp"))
    try:
        report = run(arguments, work_dir)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    report.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
