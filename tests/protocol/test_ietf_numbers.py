"""Numbers in IETF draft requests: the same rule as tus (ASCII digits, at most 19), the same 400."""

from __future__ import annotations

import httpx
import pytest

from tests.servers import TUS, Server, create_upload, stored_uploads, upload_state

INTEROP = {"Upload-Draft-Interop-Version": "6", "Upload-Complete": "?0"}
BAD_NUMBERS = [b"1" * 20, b"1" * 4301, "²".encode(), "٣".encode()]


def _number_id(value: bytes) -> str:
    return f"{value[:8]!r}x{len(value)}"


@pytest.mark.parametrize("length", BAD_NUMBERS, ids=_number_id)
def test_creation_with_an_overlong_or_non_ascii_length_answers_400_and_creates_nothing(
    shared_server: Server, http: httpx.Client, length: bytes
) -> None:
    before = stored_uploads(http, shared_server)

    response = http.post(shared_server.files_url, headers={**INTEROP, "Upload-Length": length})

    assert response.status_code == 400, response.text
    assert "Upload-Length" in response.text and len(response.text) < 200
    assert stored_uploads(http, shared_server) == before


@pytest.mark.parametrize("offset", BAD_NUMBERS, ids=_number_id)
def test_append_with_an_overlong_or_non_ascii_offset_answers_400_and_changes_nothing(
    shared_server: Server, http: httpx.Client, offset: bytes
) -> None:
    location = create_upload(http, shared_server, 5)
    http.patch(
        location,
        headers={**TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"},
        content=b"ab",
    )
    before = upload_state(http, shared_server, location)

    response = http.patch(
        location,
        headers={**INTEROP, "Content-Type": "application/partial-upload", "Upload-Offset": offset},
        content=b"cd",
    )

    assert response.status_code == 400, response.text
    assert "Upload-Offset" in response.text and len(response.text) < 200
    assert upload_state(http, shared_server, location) == before
