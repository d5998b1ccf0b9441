"""POST: the creation extension (tus 1.0.0, Creation)."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.servers import TUS, Server, stored_uploads
from tests.storage_choice import stored_bytes

MAX_FILE_SIZE = 500 * 1024 * 1024


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("path", ["/files/", "/files"])
def test_post_creates_upload_with_201_and_absolute_location_on_both_collection_paths(
    shared_server: Server, http: httpx.Client, path: str
) -> None:
    response = http.post(shared_server.base_url + path, headers={**TUS, "Upload-Length": "100"})

    assert response.status_code == 201
    assert response.headers["Tus-Resumable"] == "1.0.0"
    location = response.headers["Location"]
    assert location.startswith(shared_server.files_url)
    upload_id = location.rsplit("/", 1)[1]
    assert len(upload_id) == 22
    assert stored_bytes(shared_server.data_dir, upload_id) == b""
    head = http.head(location, headers=TUS)
    assert (head.headers["Upload-Offset"], head.headers["Upload-Length"]) == ("0", "100")


def test_post_never_redirects_the_collection(shared_server: Server, http: httpx.Client) -> None:
    response = http.post(shared_server.base_url + "/files", headers={**TUS, "Upload-Length": "1"})

    assert response.status_code == 201
    assert not response.history


def test_post_stores_metadata_and_head_returns_it(shared_server: Server, http: httpx.Client) -> None:
    metadata = f"filename {_b64('photo été.jpg')},filetype {_b64('image/jpeg')},is_confidential"
    location = http.post(
        shared_server.files_url, headers={**TUS, "Upload-Length": "5", "Upload-Metadata": metadata}
    ).headers["Location"]

    head = http.head(location, headers=TUS)

    pairs = dict(pair.partition(" ")[::2] for pair in head.headers["Upload-Metadata"].split(","))
    assert base64.b64decode(pairs["filename"]).decode() == "photo été.jpg"
    assert base64.b64decode(pairs["filetype"]).decode() == "image/jpeg"
    assert pairs["is_confidential"] == ""
    upload_id = location.rsplit("/", 1)[1]
    asset = http.get(f"{shared_server.base_url}/api/assets/{upload_id}").json()
    assert asset["filename"] == "photo été.jpg"
    assert asset["declared_type"] == "image/jpeg"
    assert asset["status"] == "uploading"


def test_post_with_empty_metadata_header_means_no_metadata(shared_server: Server, http: httpx.Client) -> None:
    # tuspy 1.1 sends an empty Upload-Metadata header when it has no metadata.
    response = http.post(shared_server.files_url, headers={**TUS, "Upload-Length": "5", "Upload-Metadata": ""})

    assert response.status_code == 201
    assert "Upload-Metadata" not in http.head(response.headers["Location"], headers=TUS).headers


def test_post_accepts_metadata_key_without_value(shared_server: Server, http: httpx.Client) -> None:
    response = http.post(shared_server.files_url, headers={**TUS, "Upload-Length": "5", "Upload-Metadata": "flag"})

    assert response.status_code == 201


@pytest.mark.parametrize(
    "metadata",
    [
        "filename not-base64!",
        "filename a b",
        "filename YQ==,filename Yg==",
        ",filename YQ==",
        "filename YQ",  # missing padding
    ],
)
def test_post_with_malformed_metadata_answers_400_and_creates_nothing(
    shared_server: Server, http: httpx.Client, metadata: str
) -> None:
    before = stored_uploads(http, shared_server)

    response = http.post(shared_server.files_url, headers={**TUS, "Upload-Length": "5", "Upload-Metadata": metadata})

    assert response.status_code == 400
    assert "Upload-Metadata" in response.text
    assert stored_uploads(http, shared_server) == before


def _metadata_of_size(size: int) -> str:
    """An ``Upload-Metadata`` header of exactly ``size`` bytes: a file name and a long value-less key."""
    prefix = f"filename {_b64('photo.jpg')},flag"
    return prefix + "x" * (size - len(prefix))


@pytest.mark.parametrize("size", [16 * 1024 + 1, 1 << 20])
def test_post_with_metadata_over_max_metadata_size_answers_400_and_creates_nothing(
    shared_server: Server, http: httpx.Client, size: int
) -> None:
    before = stored_uploads(http, shared_server)

    response = http.post(
        shared_server.files_url, headers={**TUS, "Upload-Length": "5", "Upload-Metadata": _metadata_of_size(size)}
    )

    assert response.status_code == 400
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.text == f"Upload-Metadata is {size} bytes long; this server takes at most 16384\n"
    assert stored_uploads(http, shared_server) == before


def test_post_with_metadata_at_max_metadata_size_is_stored_whole(shared_server: Server, http: httpx.Client) -> None:
    header = _metadata_of_size(16 * 1024)

    response = http.post(shared_server.files_url, headers={**TUS, "Upload-Length": "5", "Upload-Metadata": header})

    assert response.status_code == 201
    assert http.head(response.headers["Location"], headers=TUS).headers["Upload-Metadata"] == header


def test_max_metadata_size_is_a_setting(server_with, http: httpx.Client) -> None:
    server = server_with(MAX_METADATA_SIZE="40")
    fits, too_long = _metadata_of_size(40), _metadata_of_size(41)

    accepted = http.post(server.files_url, headers={**TUS, "Upload-Length": "1", "Upload-Metadata": fits})
    refused = http.post(server.files_url, headers={**TUS, "Upload-Length": "1", "Upload-Metadata": too_long})

    assert (accepted.status_code, refused.status_code) == (201, 400)
    assert "at most 40" in refused.text


@pytest.mark.parametrize("length", [None, "-1", "abc", "1.5", "", "0x10", "1e3"])
def test_post_without_valid_upload_length_answers_400(
    shared_server: Server, http: httpx.Client, length: str | None
) -> None:
    headers = dict(TUS)
    if length is not None:
        headers["Upload-Length"] = length

    response = http.post(shared_server.files_url, headers=headers)

    assert response.status_code == 400
    assert "Upload-Length" in response.text


def test_post_above_max_size_answers_413(shared_server: Server, http: httpx.Client) -> None:
    response = http.post(shared_server.files_url, headers={**TUS, "Upload-Length": str(MAX_FILE_SIZE + 1)})

    assert response.status_code == 413
    assert response.headers["Tus-Max-Size"] == str(MAX_FILE_SIZE)


def test_post_at_max_size_is_accepted(shared_server: Server, http: httpx.Client) -> None:
    response = http.post(shared_server.files_url, headers={**TUS, "Upload-Length": str(MAX_FILE_SIZE)})

    assert response.status_code == 201


def test_post_of_empty_upload_completes_it_at_once(shared_server: Server, http: httpx.Client) -> None:
    location = http.post(shared_server.files_url, headers={**TUS, "Upload-Length": "0"}).headers["Location"]

    asset = http.get(f"{shared_server.base_url}/api/assets/{location.rsplit('/', 1)[1]}").json()

    assert asset["status"] in ("queued", "processing", "ready")
    assert asset["completed_at"] is not None


# More digits than any byte count needs (the 4301 digits are past what int() converts at all), and
# digits that str.isdigit() accepts but are not ASCII, sent as UTF-8 the way a client would.
BAD_NUMBERS = [b"1" * 20, b"1" * 4301, b"1" * 5000, "²".encode(), "٣".encode(), "\uff11".encode(), "5²".encode()]


@pytest.mark.parametrize("length", BAD_NUMBERS, ids=lambda value: f"{value[:8]!r}x{len(value)}")
def test_post_with_an_overlong_or_non_ascii_upload_length_answers_400_and_creates_nothing(
    shared_server: Server, http: httpx.Client, length: bytes
) -> None:
    before = stored_uploads(http, shared_server)

    response = http.post(shared_server.files_url, headers={**TUS, "Upload-Length": length})

    assert response.status_code == 400, response.text
    assert response.text.startswith("Upload-Length")
    assert response.text.count("\n") == 1 and len(response.text) < 200
    assert stored_uploads(http, shared_server) == before


def test_post_with_19_digits_is_a_number_too_large_for_the_server(shared_server: Server, http: httpx.Client) -> None:
    response = http.post(shared_server.files_url, headers={**TUS, "Upload-Length": "9" * 19})

    assert response.status_code == 413
