"""What the server holds after a client is done: stored bytes and listed assets."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx

from tests.servers import Server
from tests.storage_choice import stored_bytes

MIB = 1024 * 1024


def random_file(path: Path, size: int) -> str:
    """Writes ``size`` random bytes to ``path``; returns their SHA-256."""
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def upload_id_of(upload_url: str) -> str:
    return upload_url.rstrip("/").rsplit("/", 1)[1]


def stored_sha256(server: Server, upload_id: str) -> str:
    """Of the bytes the server stored (in its upload directory, or its bucket with TEST_STORAGE=s3)."""
    return hashlib.sha256(stored_bytes(server.data_dir, upload_id)).hexdigest()


def listed_asset_ids(http: httpx.Client, server: Server) -> list[str]:
    response = http.get(f"{server.base_url}/api/assets", params={"limit": 200})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]
