"""GET on a finished upload: its bytes, type, a safe file name, and byte ranges."""

from __future__ import annotations

import base64
from urllib.parse import unquote

import httpx
import pytest

from tests.servers import TESTDATA_MEDIA, TUS, Server, create_upload, wait_for_asset

OCTETS = {"Content-Type": "application/offset+octet-stream"}


def _upload(server: Server, http: httpx.Client, data: bytes, filename: str) -> str:
    metadata = f"filename {base64.b64encode(filename.encode()).decode()}"
    response = http.post(
        server.files_url,
        headers={**TUS, **OCTETS, "Upload-Length": str(len(data)), "Upload-Metadata": metadata},
        content=data,
    )
    location = response.headers["Location"]
    wait_for_asset(http, server, location.rsplit("/", 1)[1])
    return location


@pytest.fixture(scope="module")
def photo(shared_server: Server) -> tuple[str, bytes]:
    data = (TESTDATA_MEDIA / "hopper.jpg").read_bytes()
    with httpx.Client() as http:
        return _upload(shared_server, http, data, 'Été à Paris "1".jpg'), data


def test_download_streams_the_bytes_with_the_detected_type(photo: tuple[str, bytes], http: httpx.Client) -> None:
    location, data = photo

    response = http.get(location)

    assert response.status_code == 200
    assert response.content == data
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_download_names_the_file_safely_with_rfc_6266_filename_star(
    photo: tuple[str, bytes], http: httpx.Client
) -> None:
    disposition = http.get(photo[0]).headers["Content-Disposition"]

    assert disposition.startswith("inline; ")
    assert 'filename="_t_ _ Paris _1_.jpg"' in disposition
    star = disposition.split("filename*=UTF-8''", 1)[1]
    assert unquote(star) == 'Été à Paris "1".jpg'
    assert '"' not in star and " " not in star


@pytest.mark.parametrize(
    ("byte_range", "first", "last"),
    [("bytes=0-99", 0, 99), ("bytes=100-", 100, None), ("bytes=-50", -50, None), ("bytes=10-999999", 10, None)],
)
def test_single_range_answers_206_with_content_range(
    photo: tuple[str, bytes], http: httpx.Client, byte_range: str, first: int, last: int | None
) -> None:
    location, data = photo
    expected = data[first : None if last is None else last + 1]

    response = http.get(location, headers={"Range": byte_range})

    assert response.status_code == 206
    assert response.content == expected
    start = first if first >= 0 else len(data) + first
    assert response.headers["Content-Range"] == f"bytes {start}-{start + len(expected) - 1}/{len(data)}"


@pytest.mark.parametrize("byte_range", ["bytes=999999-", "bytes=-0", "bytes=50-10"])
def test_unsatisfiable_range_answers_416(photo: tuple[str, bytes], http: httpx.Client, byte_range: str) -> None:
    location, data = photo

    response = http.get(location, headers={"Range": byte_range})

    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(data)}"


def test_unfinished_upload_cannot_be_downloaded(shared_server: Server, http: httpx.Client) -> None:
    location = create_upload(http, shared_server, 10)

    response = http.get(location)

    assert response.status_code == 409
    assert "not finished" in response.text


def test_html_is_offered_as_an_attachment_never_rendered(shared_server: Server, http: httpx.Client) -> None:
    location = _upload(shared_server, http, b"<html><script>alert(1)</script></html>", "page.html")

    response = http.get(location)

    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert not response.headers["Content-Type"].startswith("text/html")


@pytest.fixture(scope="module")
def empty_upload(shared_server: Server) -> str:
    with httpx.Client() as http:
        response = http.post(shared_server.files_url, headers={**TUS, "Upload-Length": "0"})
        assert response.status_code == 201
        return response.headers["Location"]


def test_empty_upload_downloads_as_no_bytes(empty_upload: str, http: httpx.Client) -> None:
    response = http.get(empty_upload)

    assert (response.status_code, response.content, response.headers["Content-Length"]) == (200, b"", "0")


@pytest.mark.parametrize("byte_range", ["bytes=-5", "bytes=-1", f"bytes=-{'9' * 19}", "bytes=0-", "bytes=0-0"])
def test_every_range_of_an_empty_upload_answers_416(empty_upload: str, http: httpx.Client, byte_range: str) -> None:
    # An empty representation has no bytes to select, so even a suffix range cannot be satisfied.
    response = http.get(empty_upload, headers={"Range": byte_range})

    assert response.status_code == 416
    assert response.headers["Content-Range"] == "bytes */0"


@pytest.mark.parametrize(
    ("byte_range", "first", "last"),
    [(f"bytes=0-{'9' * 19}", 0, None), (f"bytes=-{'9' * 19}", 0, None), (f"bytes=100-{'0' * 16}200", 100, 200)],
)
def test_range_with_19_digits_is_a_number_past_the_end(
    photo: tuple[str, bytes], http: httpx.Client, byte_range: str, first: int, last: int | None
) -> None:
    location, data = photo

    response = http.get(location, headers={"Range": byte_range})

    assert response.status_code == 206
    assert response.content == data[first : None if last is None else last + 1]


def test_range_starting_19_digits_in_is_unsatisfiable(photo: tuple[str, bytes], http: httpx.Client) -> None:
    location, data = photo

    response = http.get(location, headers={"Range": f"bytes={'9' * 19}-"})

    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(data)}"


@pytest.mark.parametrize(
    "byte_range",
    [
        f"bytes=0-{'1' * 20}",
        f"bytes={'1' * 4301}-",
        f"bytes=-{'1' * 4301}",
        f"bytes=0-{'1' * 4301}",
        f"bytes={'1' * 5000}-{'1' * 5000}",
    ],
    ids=lambda value: f"{value[:9]}x{len(value)}",
)
def test_range_with_more_than_19_digits_answers_400_naming_range(
    photo: tuple[str, bytes], http: httpx.Client, byte_range: str
) -> None:
    response = http.get(photo[0], headers={"Range": byte_range})

    assert response.status_code == 400
    assert response.text.startswith("Range")
    assert response.text.count("\n") == 1 and len(response.text) < 200


@pytest.mark.parametrize("byte_range", ["bytes=²-", "bytes=0-٣", "bytes=-\uff11", "bytes=1-2,4-5", "items=0-1"])
def test_range_that_is_not_one_ascii_byte_range_is_ignored(
    photo: tuple[str, bytes], http: httpx.Client, byte_range: str
) -> None:
    # RFC 9110 section 14.2: a server may ignore Range; the whole file is always a correct answer.
    location, data = photo

    response = http.get(location, headers={"Range": byte_range.encode()})

    assert (response.status_code, response.content) == (200, data)
