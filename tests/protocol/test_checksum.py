"""The checksum extension: Upload-Checksum verified before the offset moves."""

from __future__ import annotations

import base64
import hashlib
import zlib

import httpx
import pytest

from tests.servers import TUS, Server, create_upload, upload_state
from tests.storage_choice import stored_bytes

OCTETS = {"Content-Type": "application/offset+octet-stream"}
BODY = b"the quick brown fox jumps over the lazy dog"


def _digest(algorithm: str, data: bytes) -> str:
    raw = zlib.crc32(data).to_bytes(4, "big") if algorithm == "crc32" else hashlib.new(algorithm, data).digest()
    return base64.b64encode(raw).decode()


def _stored(server: Server, location: str) -> bytes:
    return stored_bytes(server.data_dir, location.rsplit("/", 1)[1])


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512", "md5", "crc32"])
def test_patch_with_matching_checksum_is_stored(shared_server: Server, http: httpx.Client, algorithm: str) -> None:
    location = create_upload(http, shared_server, len(BODY) * 2)
    checksum = f"{algorithm} {_digest(algorithm, BODY)}"

    response = http.patch(
        location, headers={**TUS, **OCTETS, "Upload-Offset": "0", "Upload-Checksum": checksum}, content=BODY
    )

    assert (response.status_code, response.headers["Upload-Offset"]) == (204, str(len(BODY)))
    assert _stored(shared_server, location) == BODY


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "md5", "crc32"])
def test_checksum_mismatch_answers_460_and_the_offset_does_not_move(
    shared_server: Server, http: httpx.Client, algorithm: str
) -> None:
    location = create_upload(http, shared_server, 100)
    http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"kept")
    checksum = f"{algorithm} {_digest(algorithm, b'something else')}"

    response = http.patch(
        location, headers={**TUS, **OCTETS, "Upload-Offset": "4", "Upload-Checksum": checksum}, content=BODY
    )

    assert response.status_code == 460
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert http.head(location, headers=TUS).headers["Upload-Offset"] == "4"
    assert _stored(shared_server, location) == b"kept"


@pytest.mark.parametrize("checksum", ["sha3 AAAA", "blake2b AAAA", "whirlpool AAAA"])
def test_unsupported_checksum_algorithm_answers_400(shared_server: Server, http: httpx.Client, checksum: str) -> None:
    location = create_upload(http, shared_server, 10)

    response = http.patch(
        location, headers={**TUS, **OCTETS, "Upload-Offset": "0", "Upload-Checksum": checksum}, content=b"abc"
    )

    assert response.status_code == 400
    assert "unsupported checksum algorithm" in response.text
    assert _stored(shared_server, location) == b""


def _wrong_length(algorithm: str) -> str:
    """Valid base64 of a digest the algorithm can never produce: another algorithm's, or a few bytes."""
    other = "md5" if algorithm != "md5" else "sha1"
    return f"{algorithm} {_digest(other, BODY)}"


@pytest.mark.parametrize(
    "checksum",
    ["sha1 AAAA", "md5 YWJj", "crc32 AAAAAAAA", _wrong_length("sha1"), _wrong_length("sha256"), _wrong_length("md5")],
)
def test_digest_of_the_wrong_length_is_a_mismatch_460_that_changes_nothing(
    shared_server: Server, http: httpx.Client, checksum: str
) -> None:
    location = create_upload(http, shared_server, 100)
    http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"kept")
    before = upload_state(http, shared_server, location)

    response = http.patch(
        location, headers={**TUS, **OCTETS, "Upload-Offset": "4", "Upload-Checksum": checksum}, content=BODY
    )

    assert response.status_code == 460
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert "checksum" in response.text
    assert upload_state(http, shared_server, location) == before
    assert before["bytes"] == b"kept"


@pytest.mark.parametrize("checksum", ["sha1", "sha1 ====", "sha1 not*base64", "sha1 AAA", "sha1AAAA"])
def test_malformed_upload_checksum_answers_400(shared_server: Server, http: httpx.Client, checksum: str) -> None:
    location = create_upload(http, shared_server, 10)
    before = upload_state(http, shared_server, location)

    response = http.patch(
        location, headers={**TUS, **OCTETS, "Upload-Offset": "0", "Upload-Checksum": checksum}, content=b"abc"
    )

    assert response.status_code == 400
    assert "Upload-Checksum" in response.text or "unsupported checksum algorithm" in response.text
    assert upload_state(http, shared_server, location) == before


@pytest.mark.parametrize("checksum", [f"sha1 {_digest('sha1', b'other')}", "sha256 YWJj"])
def test_creation_with_upload_verifies_the_checksum_too(
    shared_server: Server, http: httpx.Client, checksum: str
) -> None:
    headers = {**TUS, **OCTETS, "Upload-Length": "100", "Upload-Checksum": checksum}

    response = http.post(shared_server.files_url, headers=headers, content=BODY)

    assert response.status_code == 460
    # The upload was made before its body failed: it is empty, and the client is told where it is.
    location = response.headers["Location"]
    assert upload_state(http, shared_server, location)["bytes"] == b""
    assert http.head(location, headers=TUS).headers["Upload-Offset"] == "0"
