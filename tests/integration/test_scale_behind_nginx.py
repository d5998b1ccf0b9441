"""The reference deployment under load: nginx (``config/nginx/tusmedia.conf``, round-robin, request
buffering off) in front of two servers, two ``tusmedia worker`` processes, PostgreSQL, Redis and an
S3 bucket (SeaweedFS). Each process has a data folder of its own and nothing else in common, as on
separate machines. Forty tus clients upload at once while one server is killed with SIGKILL half way
through and started again; every upload must end byte-identical and every asset be processed exactly
once.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import require_service
from tests.database_choice import postgres_database_for
from tests.s3_service import SeaweedFS
from tests.servers import REPO_ROOT, TUS, Server, free_port, process_env, start_process, start_server, wait_for_asset

pytestmark = pytest.mark.scale

MIB = 1024 * 1024
UPLOADS = 40
CHUNK = MIB
ATTEMPTS = 200  # requests one client may spend on its upload, failures included: the loop ends by itself
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REFERENCE_CONFIG = REPO_ROOT / "config" / "nginx" / "tusmedia.conf"


@dataclass
class Progress:
    sent: int = 0
    failed_requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sent: int = 0, failed: int = 0) -> None:
        with self.lock:
            self.sent += sent
            self.failed_requests += failed


def _nginx_config(directory: Path, listen: int, upstreams: tuple[int, int]) -> Path:
    """The reference configuration, with this test's ports, inside a minimal nginx.conf of its own."""
    site = REFERENCE_CONFIG.read_text()
    site = site.replace("127.0.0.1:8001", f"127.0.0.1:{upstreams[0]}").replace(
        "127.0.0.1:8002", f"127.0.0.1:{upstreams[1]}"
    )
    site = site.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    temporary = "".join(
        f"{kind}_temp_path {directory / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = directory / "nginx.conf"
    config.write_text(
        f"worker_processes 1;\nuser root;\ndaemon off;\npid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'error.log'} warn;\nevents {{ worker_connections 1024; }}\n"
        f"http {{\nlog_format upstreams '$request_method $upstream_addr $status';\n"
        f"access_log {directory / 'access.log'} upstreams;\n{temporary}{site}\n}}\n"
    )
    return config


@pytest.fixture
def nginx_in_front(tmp_path: Path) -> Iterator[tuple[int, tuple[int, int], Path]]:
    require_service("nginx (Debian's package)", Path(NGINX).exists())
    directory = tmp_path / "nginx"
    directory.mkdir()
    listen, upstreams = free_port(), (free_port(), free_port())
    config = _nginx_config(directory, listen, upstreams)
    process = subprocess.Popen([NGINX, "-c", str(config), "-p", str(directory)], stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            try:
                httpx.get(f"http://127.0.0.1:{listen}/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert process.poll() is None, (directory / "error.log").read_text()
        yield listen, upstreams, directory
    finally:
        process.terminate()
        process.wait(10)


def _upload(base_url: str, data: bytes, progress: Progress) -> str:
    """A tus client that resumes from the server's offset after any failure; the upload's id."""
    location: str | None = None
    with httpx.Client(base_url=base_url, timeout=30, headers=TUS) as client:
        for _ in range(ATTEMPTS):
            try:
                if location is None:
                    created = client.post("/files/", headers={"Upload-Length": str(len(data))})
                    if created.status_code != 201:
                        raise httpx.HTTPStatusError("creation refused", request=created.request, response=created)
                    location = created.headers["Location"]
                head = client.head(location)
                if head.status_code != 200:
                    raise httpx.HTTPStatusError("HEAD refused", request=head.request, response=head)
                offset = int(head.headers["Upload-Offset"])
                if offset == len(data):
                    return location.rsplit("/", 1)[1]
                piece = data[offset : offset + CHUNK]
                patched = client.patch(
                    location,
                    headers={"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
                    content=piece,
                )
                if patched.status_code != 204:
                    raise httpx.HTTPStatusError("PATCH refused", request=patched.request, response=patched)
                progress.add(sent=len(piece))
            except httpx.HTTPError:
                progress.add(failed=1)
                time.sleep(0.2)
    raise AssertionError(f"upload {location} did not finish in {ATTEMPTS} requests")


def test_forty_uploads_through_nginx_survive_a_killed_server_and_each_asset_is_processed_once(
    tmp_path: Path,
    nginx_in_front: tuple[int, tuple[int, int], Path],
    redis_settings: dict[str, str],
    seaweedfs: SeaweedFS,
) -> None:
    listen, (first_port, second_port), nginx_dir = nginx_in_front
    bucket = seaweedfs.new_bucket()
    data_dirs = {name: tmp_path / name for name in ("server-1", "server-2", "worker-1", "worker-2")}
    settings = {
        **redis_settings,
        **seaweedfs.settings(bucket, "uploads/"),
        "DATABASE_URL": postgres_database_for(tmp_path),  # on PostgreSQL whatever the run's database
        "TRUST_PROXY_HEADERS": "true",
        "MAX_FILE_SIZE": str(64 * MIB),
        "RECOVERY_INTERVAL": "1",
    }
    rng = random.Random(13)
    bodies = [rng.randbytes(rng.randint(1, 20) * MIB - rng.randint(0, 4096)) for _ in range(UPLOADS)]
    total = sum(len(body) for body in bodies)
    servers = [
        start_server(data_dirs["server-1"], settings, port=first_port),
        start_server(data_dirs["server-2"], settings, port=second_port),
    ]
    workers = []
    for name in ("worker-1", "worker-2"):
        data_dirs[name].mkdir()
        workers.append(
            start_process(["worker"], process_env(data_dirs[name], settings), data_dirs[name] / "worker.log")
        )
    progress = Progress()
    restarted: list[Server] = []
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=UPLOADS) as clients:
            uploads = [clients.submit(_upload, f"http://127.0.0.1:{listen}", body, progress) for body in bodies]
            deadline = time.monotonic() + 120
            while progress.sent < total // 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            servers[0].process.send_signal(signal.SIGKILL)
            servers[0].process.wait(10)
            killed_at = progress.sent
            time.sleep(1)
            restarted.append(start_server(data_dirs["server-1"], settings, port=first_port))
            ids = [upload.result(timeout=300) for upload in uploads]
        seconds = time.monotonic() - started

        objects = seaweedfs.client()
        stored = [
            hashlib.sha256(objects.get_object(Bucket=bucket, Key=f"uploads/{upload_id}")["Body"].read()).digest()
            for upload_id in ids
        ]
        left_open = objects.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        with httpx.Client(base_url=f"http://127.0.0.1:{listen}", timeout=30) as http:
            assets = [wait_for_asset(http, restarted[0], upload_id, timeout=120) for upload_id in ids]
    finally:
        for process in [*workers, *servers[1:], *restarted]:
            process.stop()
        servers[0].stop()
    patched_on = {
        line.split()[1] for line in (nginx_dir / "access.log").read_text().splitlines() if line.startswith("PATCH ")
    }
    print(
        f"\nscale: {UPLOADS} uploads, {total / MIB:.0f} MiB in {seconds:.1f} s ({total / MIB / seconds:.0f} MiB/s) "
        f"through nginx to 2 servers and 2 workers on S3; server 1 killed at {killed_at / MIB:.0f} MiB and restarted; "
        f"{progress.failed_requests} client requests failed and were resumed"
    )
    assert stored == [hashlib.sha256(body).digest() for body in bodies], "every upload is byte-identical"
    assert left_open == [], "every multipart upload was completed"
    assert [asset["status"] for asset in assets] == ["ready"] * UPLOADS
    assert [[event["event"] for event in asset["events"]].count("ready") for asset in assets] == [1] * UPLOADS
    assert killed_at < total, "the server died while uploads were still arriving"
    assert progress.failed_requests > 0, "some requests met the killed server"
    # Round-robin: PATCHes of the same uploads went to both servers (a failed try names both upstreams).
    assert {f"127.0.0.1:{first_port}", f"127.0.0.1:{second_port}"} <= {
        address.rstrip(",") for addresses in patched_on for address in addresses.split()
    }
