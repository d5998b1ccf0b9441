"""The README's first command: ``tusmedia serve`` with no configuration runs everything on one machine."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
from tusclient import client as tus_client

from tests.servers import START_TIMEOUT_SECONDS, TESTDATA_MEDIA, free_port


def test_tusmedia_serve_on_embedded_defaults_takes_a_tuspy_upload_to_ready(tmp_path: Path) -> None:
    executable = shutil.which("tusmedia")
    assert executable, "the tusmedia console script is not installed: run the README's install command"
    port = free_port()
    # No settings at all but the port (the default 1080 may be taken on a shared machine).
    env = {key: value for key, value in os.environ.items() if not key.isupper() or key in ("PATH", "HOME", "LANG")}
    env["PORT"] = str(port)
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([executable, "serve"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()
            try:
                httpx.options(f"{base_url}/files/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)

        # The first start printed an admin token, with how to make more, as its last line of that notice.
        lines = log_path.read_text().splitlines()
        notice = next(index for index, line in enumerate(lines) if "made an admin token" in line)
        assert "tusmedia token create" in lines[notice + 1]
        token = lines[notice + 2].strip()
        assert token.startswith("tm_")
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.post(f"{base_url}/files/", headers={"Tus-Resumable": "1.0.0"}).status_code == 401

        with (TESTDATA_MEDIA / "hopper.jpg").open("rb") as stream:
            uploader = tus_client.TusClient(f"{base_url}/files/", headers=auth).uploader(
                file_stream=stream, chunk_size=2048, metadata={"filename": "hopper.jpg", "filetype": "image/jpeg"}
            )
            uploader.upload()
        upload_id = uploader.url.rsplit("/", 1)[1]

        asset: dict = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and asset.get("status") not in ("ready", "failed"):
            asset = httpx.get(f"{base_url}/api/assets/{upload_id}", headers=auth).json()
            time.sleep(0.1)
        assert asset["status"] == "ready", asset
        assert (asset["width"], asset["height"], asset["filename"]) == (128, 128, "hopper.jpg")
        for url in asset["derivatives"].values():
            # Signed links: what an <img> fetches, with no header at all.
            assert httpx.get(url).headers["content-type"] == "image/jpeg"
        # Everything lives under ./data: the uploaded bytes, the thumbnails and the SQLite database.
        assert (tmp_path / "data" / "uploads" / upload_id).read_bytes() == (TESTDATA_MEDIA / "hopper.jpg").read_bytes()
        assert (tmp_path / "data" / "derivatives" / upload_id / "thumb_256.jpg").is_file()
        assert (tmp_path / "data" / "tusmedia.db").is_file()
    finally:
        process.terminate()
        # uvicorn shuts down gracefully, then re-raises the signal it caught: -SIGTERM is a clean exit.
        assert process.wait(20) in (0, -signal.SIGTERM), log_path.read_text()
        assert "Application shutdown complete" in log_path.read_text()
