"""Decoders load only where media is processed: the server (even with its in-process worker) never
maps Pillow, pillow-heif or FFmpeg, so its memory stays that of an upload server."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.servers import TESTDATA_MEDIA, Server, upload_bytes, wait_for_asset

DECODER_LIBRARIES = ("libavcodec", "libavformat", "_imaging.", "_pillow_heif", "libheif")


def _mapped(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def test_the_server_processes_media_without_loading_a_decoder(server: Server, http: httpx.Client) -> None:
    upload_id = upload_bytes(http, server, (TESTDATA_MEDIA / "hopper.jpg").read_bytes(), "hopper.jpg")

    asset = wait_for_asset(http, server, upload_id)

    assert asset["status"] == "ready"
    mapped = _mapped(server.process.pid)
    assert [library for library in DECODER_LIBRARIES if library in mapped] == []
