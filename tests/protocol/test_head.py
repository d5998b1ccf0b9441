"""HEAD: the offset of an upload (tus 1.0.0, core protocol, HEAD)."""

from __future__ import annotations

import httpx
import pytest

from tests.servers import TUS, Server, create_upload

OCTETS = {"Content-Type": "application/offset+octet-stream"}


def test_head_reports_offset_length_and_forbids_caching(shared_server: Server, http: httpx.Client) -> None:
    location = create_upload(http, shared_server, 10)
    http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"abc")

    response = http.head(location, headers=TUS)

    assert response.status_code == 200
    assert response.headers["Upload-Offset"] == "3"
    assert response.headers["Upload-Length"] == "10"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert "Upload-Metadata" not in response.headers


@pytest.mark.parametrize(
    "upload_id",
    [
        "AAAAAAAAAAAAAAAAAAAAAA",
        "short",
        "%2e%2e%2fetc%2fpasswd",
        "..%2f..%2fetc%2fpasswd",
        "AAAAAAAAAAAAAAAAAAAAAA.info",
    ],
)
def test_head_of_unknown_or_invalid_id_answers_404(shared_server: Server, http: httpx.Client, upload_id: str) -> None:
    response = http.head(shared_server.files_url + upload_id, headers=TUS)

    assert response.status_code == 404
    assert response.headers["Tus-Resumable"] == "1.0.0"
