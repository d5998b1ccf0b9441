"""Real processes for the tests: a uvicorn server or a media worker, started on a free port, stopped by PID."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.database_choice import database_url_for
from tests.storage_choice import storage_settings_for, stored_bytes, stored_info, stored_names

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTDATA_MEDIA = REPO_ROOT / "tests" / "data" / "media"
START_TIMEOUT_SECONDS = 30
TUS = {"Tus-Resumable": "1.0.0"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def process_env(data_dir: Path, overrides: dict[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "BROKER_URL", "DATABASE_URL")}
    # Test servers process any type, so protocol tests may upload random bytes; the default allow-list
    # has tests of its own. They serve requests without a token as "anonymous", so protocol tests need
    # none; the access tests switch that off (ALLOW_ANONYMOUS=false) and use real tokens.
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "LOG_LEVEL": "warning",
            "PYTHONUNBUFFERED": "1",
            "ALLOWED_TYPES": "*",
            "ALLOW_ANONYMOUS": "true",
        }
    )
    overrides = dict(overrides or {})
    # A test of SQLite itself (its locks, its file) asks for it with DATABASE="sqlite", on any run.
    database_url = database_url_for(data_dir) if overrides.pop("DATABASE", None) != "sqlite" else None
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    # Likewise STORAGE="file" for a test of the filestore itself; a test of its own bucket names it.
    if overrides.pop("STORAGE", None) != "file" and "S3_BUCKET" not in overrides:
        env.update(storage_settings_for(data_dir))
    env.update(overrides)
    return env


@dataclass
class RunningProcess:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode


@dataclass
class Server(RunningProcess):
    port: int = 0
    data_dir: Path = field(default_factory=Path)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def files_url(self) -> str:
        return f"{self.base_url}/files/"


def start_process(arguments: list[str], env: dict[str, str], log_path: Path, cwd: Path = REPO_ROOT) -> RunningProcess:
    log_file = open(log_path, "wb")  # noqa: SIM115 - the child process owns it until it exits
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *arguments], cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT
    )
    log_file.close()
    return RunningProcess(process, log_path)


def start_server(
    data_dir: Path, overrides: dict[str, str] | None = None, cwd: Path = REPO_ROOT, port: int | None = None
) -> Server:
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    started = start_process(
        ["serve", "--port", str(port)], process_env(data_dir, overrides), data_dir / f"server-{port}.log", cwd
    )
    server = Server(started.process, started.log_path, port=port, data_dir=data_dir)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log()}")
        try:
            if httpx.options(server.files_url, timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not answer within {START_TIMEOUT_SECONDS}s:\n{server.log()}")


def create_upload(client: httpx.Client, server: Server, length: int, **headers: str) -> str:
    response = client.post(server.files_url, headers={**TUS, "Upload-Length": str(length), **headers})
    assert response.status_code == 201, response.text
    return response.headers["Location"]


def upload_bytes(
    client: httpx.Client,
    server: Server,
    data: bytes,
    filename: str = "file.bin",
    headers: dict[str, str] | None = None,
) -> str:
    """Create an upload and send all of ``data`` with creation-with-upload; returns the upload id.
    ``headers`` add credentials (test servers take anonymous uploads unless told otherwise)."""
    import base64

    response = client.post(
        server.files_url,
        content=data,
        headers={
            **TUS,
            **(headers or {}),
            "Upload-Length": str(len(data)),
            "Upload-Metadata": f"filename {base64.b64encode(filename.encode()).decode()}",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert response.status_code == 201, response.text
    assert response.headers["Upload-Offset"] == str(len(data))
    return response.headers["Location"].rsplit("/", 1)[1]


def upload_state(client: httpx.Client, server: Server, location: str) -> dict[str, Any]:
    """Everything stored of one upload: its bytes and info file, the offset HEAD reports, and its asset
    row with its history. A refused request must leave all of it as it was."""
    upload_id = location.rsplit("/", 1)[1]
    asset = client.get(f"{server.base_url}/api/assets/{upload_id}")
    described = asset.json()
    # Signed links carry their expiry, so they change by the second: compare what they point at.
    described.pop("download_url", None)
    described["derivatives"] = sorted(described.get("derivatives") or {})
    return {
        "bytes": stored_bytes(server.data_dir, upload_id),
        "info": stored_info(server.data_dir, upload_id),
        "offset": client.head(location, headers=TUS).headers.get("Upload-Offset"),
        "asset": (asset.status_code, described),
    }


def stored_uploads(client: httpx.Client, server: Server) -> tuple[set[str], list[str]]:
    """The names in the upload directory and the newest asset ids: a refused creation adds to neither."""
    names = stored_names(server.data_dir)
    newest = client.get(f"{server.base_url}/api/assets", params={"limit": "200"}).json()["items"]
    return names, [asset["id"] for asset in newest]


def derivatives_on_disk(data_dir: Path, upload_id: str) -> tuple[list[str], list[str]]:
    """The asset's derivative files, and the scratch or retired folders of any asset that no attempt
    cleaned up (they start with a dot)."""
    derivatives = data_dir / "derivatives"
    folder = derivatives / upload_id
    files = sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []
    return files, sorted(path.name for path in derivatives.iterdir() if path.name.startswith("."))


FINAL_STATUSES = ("ready", "failed")


def wait_for_asset(
    client: httpx.Client,
    server: Server,
    upload_id: str,
    statuses: tuple[str, ...] = FINAL_STATUSES,
    timeout: float = 30,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    asset: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = client.get(f"{server.base_url}/api/assets/{upload_id}", headers=headers)
        assert response.status_code == 200, response.text
        asset = response.json()
        if asset["status"] in statuses:
            return asset
        time.sleep(0.1)
    raise AssertionError(f"asset {upload_id} still {asset.get('status')!r} after {timeout}s: {asset}")


class StalledPatch:
    """A client that declares a body, sends part of it, and then goes quiet with the connection open."""

    def __init__(self, server: Server, upload_id: str, declared: int, sent: bytes, offset: int = 0) -> None:
        self.connection = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        head = (
            f"PATCH /files/{upload_id} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nTus-Resumable: 1.0.0\r\n"
            f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        )
        self.connection.sendall(head.encode() + sent)

    def response(self) -> str:
        """What the server answered the stalled request, once it did."""
        received = b""
        while b"\r\n\r\n" not in received:
            piece = self.connection.recv(4096)
            if not piece:
                break
            received += piece
        return received.decode(errors="replace")

    def close(self) -> None:
        self.connection.close()
