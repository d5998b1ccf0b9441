"""What the server holds after a client is done: stored bytes and listed assets."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx

from tests.servers import Server

MIB = 1024 * 1024


def random_file(path: Path, size: int) -> str:
    """Writes ``size`` random bytes to ``path``; returns their SHA-256."""
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def upload_id_of(upload_url: str) -> str:
    return upload_url.rstrip("/").rsplit("/", 1)[1]


def stored_path(server: Server, upload_id: str) -> Path:
    return server.data_dir / "uploads" / upload_id


def stored_sha256(server: Server, upload_id: str) -> str:
    return hashlib.sha256(stored_path(server, upload_id).read_bytes()).hexdigest()


def listed_asset_ids(http: httpx.Client, server: Server) -> list[str]:
    response = http.get(f"{server.base_url}/api/assets", params={"limit": 200})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]
