"""Random header values at every tus endpoint, and random query parameters on the status API: never a
500, never a traceback, and a refused request never changes the bytes already stored."""

from __future__ import annotations

import string
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.servers import TUS, Server
from tests.storage_choice import stored_bytes

# What the server answers for an exception nothing else handled (app.main.render_unexpected).
UNEXPECTED_ERROR_BODY = "internal server error"

HEADER_TEXT = st.text(
    alphabet=string.printable.replace("\r", "").replace("\n", "").replace("\x0b", "").replace("\x0c", ""), max_size=60
)
# Digit strings past every byte count: 20 digits overflow a 64-bit integer, and more than 4300 make
# int() itself refuse. Non-ASCII digits pass str.isdigit(), and the fullwidth one even passes int().
LONG_DIGITS = st.one_of(
    st.sampled_from([20, 4300, 4301, 5000]).map(lambda count: "1" * count),
    st.integers(min_value=19, max_value=6000).map(lambda count: "9" * count),
)
NON_ASCII_DIGITS = st.sampled_from(["²", "٣", "\uff11", "١٢", "5²", "²5", "\U0001d7d3", "߃"])
NUMBERS = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.sampled_from(["", "0", "3", "5", "1e3", "0x10", "+3", "-0", "2.0", "00005"]),
    LONG_DIGITS,
    NON_ASCII_DIGITS,
    HEADER_TEXT,
)
RANGE_BOUNDS = st.one_of(st.just(""), st.integers(min_value=0, max_value=10).map(str), LONG_DIGITS, NON_ASCII_DIGITS)
RANGES = st.one_of(
    st.sampled_from(["bytes=0-1", "bytes=-1", "bytes=5-", "bytes=2-1", "bytes=-0", "bytes=0-0"]),
    st.tuples(RANGE_BOUNDS, RANGE_BOUNDS).map(lambda bounds: f"bytes={bounds[0]}-{bounds[1]}"),
    HEADER_TEXT,
)
METADATA = st.one_of(
    HEADER_TEXT,
    st.lists(st.tuples(st.text(string.ascii_letters, min_size=1, max_size=8), HEADER_TEXT), max_size=4).map(
        lambda pairs: ",".join(f"{key} {value}" for key, value in pairs)
    ),
)
CHECKSUMS = st.one_of(
    HEADER_TEXT,
    st.tuples(st.sampled_from(["sha1", "sha256", "md5", "crc32", "sha3", "SHA1"]), HEADER_TEXT).map(" ".join),
)
CONCATS = st.one_of(
    HEADER_TEXT,
    st.sampled_from(["partial", "final;", "final; ", "final;/files/AAAAAAAAAAAAAAAAAAAAAA", "final;http://x/files/.."]),
)
OPTIONAL = {
    "Tus-Resumable": st.sampled_from(["1.0.0", "1.0.0", "1.0.0", "0.2.2", ""]),
    "Upload-Length": NUMBERS,
    "Upload-Offset": NUMBERS,
    "Upload-Metadata": METADATA,
    "Upload-Checksum": CHECKSUMS,
    "Upload-Concat": CONCATS,
    "Upload-Defer-Length": NUMBERS,
    "X-HTTP-Method-Override": st.one_of(st.sampled_from(["PATCH", "DELETE", "HEAD", "GET", "PUT"]), HEADER_TEXT),
    "Content-Type": st.sampled_from(["application/offset+octet-stream", "text/plain", ""]),
    "Range": RANGES,
}
# An unfinished upload (most methods), a finished and an empty one (a GET reaches the Range parsing
# only on a finished upload).
UPLOADS = {"unfinished": (5, b"abc"), "finished": (3, b"abc"), "empty": (0, b"")}
REQUESTS = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["POST", "HEAD", "PATCH", "DELETE", "GET", "OPTIONS", "PUT"]),
        "target": st.sampled_from(["collection", *UPLOADS]),
        "headers": st.fixed_dictionaries({}, optional=OPTIONAL),
        "body": st.binary(max_size=12),
    }
)


def assert_no_unexpected_error(response: httpx.Response) -> None:
    assert response.status_code != 500, response.text
    assert response.status_code < 500, (response.status_code, response.text)
    assert UNEXPECTED_ERROR_BODY not in response.text
    assert "Traceback" not in response.text


def _create(http: httpx.Client, server: Server, kind: str) -> str:
    length, data = UPLOADS[kind]
    created = http.post(
        server.files_url,
        headers={**TUS, "Upload-Length": str(length), "Content-Type": "application/offset+octet-stream"},
        content=data,
    )
    assert created.status_code == 201, created.text
    return created.headers["Location"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=REQUESTS)
def test_random_requests_never_crash_the_server_or_change_bytes_when_refused(
    shared_server: Server, request: dict
) -> None:
    with httpx.Client(timeout=10) as http:
        kind = "unfinished" if request["target"] == "collection" else request["target"]
        location = _create(http, shared_server, kind)
        upload_id = location.rsplit("/", 1)[1]
        url = shared_server.files_url if request["target"] == "collection" else location

        # Sent as UTF-8, as a client would send a non-ASCII value (httpx refuses to guess an encoding).
        headers = {name: value.strip().encode() for name, value in request["headers"].items()}
        response = http.request(request["method"], url, headers=headers, content=request["body"])

    assert_no_unexpected_error(response)
    if response.status_code >= 400:
        assert stored_bytes(shared_server.data_dir, upload_id) == UPLOADS[kind][1], (
            "a refused request changed the stored bytes"
        )


OCTETS = {"Content-Type": "application/offset+octet-stream"}
IETF = {"Upload-Draft-Interop-Version": "6", "Upload-Complete": "?0"}


def _number_request(http: httpx.Client, server: Server, field: str, value: bytes) -> tuple[httpx.Response, str]:
    """One request that is right but for the number ``value`` in ``field``; and the upload it aims at."""
    if field == "create":
        location = _create(http, server, "unfinished")
        return http.post(server.files_url, headers={**TUS, "Upload-Length": value}), location
    if field == "ietf create":
        location = _create(http, server, "unfinished")
        return http.post(server.files_url, headers={**IETF, "Upload-Length": value}), location
    if field.startswith("range"):
        location = _create(http, server, "finished")
        byte_range = {"range first": b"bytes=%s-", "range last": b"bytes=0-%s", "range suffix": b"bytes=-%s"}[field]
        return http.get(location, headers={"Range": byte_range % value}), location
    location = _create(http, server, "unfinished")
    if field == "append":
        headers = {**TUS, **OCTETS, "Upload-Offset": value}
    elif field == "ietf append":
        headers = {**IETF, "Content-Type": "application/partial-upload", "Upload-Offset": value}
    else:  # a PATCH that also states the length: the header is read before anything else is checked
        headers = {**TUS, **OCTETS, "Upload-Offset": b"3", "Upload-Length": value}
    return http.patch(location, headers=headers, content=b"de"), location


NUMBER_FIELDS = ["create", "ietf create", "append", "ietf append", "length"] + [
    f"range {bound}" for bound in ("first", "last", "suffix")
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(NUMBER_FIELDS), value=NUMBERS)
def test_every_number_a_request_carries_is_read_or_refused_never_a_crash(
    shared_server: Server, field: str, value: str
) -> None:
    with httpx.Client(timeout=10) as http:
        response, location = _number_request(http, shared_server, field, value.strip().encode())

    assert_no_unexpected_error(response)
    if response.status_code >= 400:
        stored = stored_bytes(shared_server.data_dir, location.rsplit("/", 1)[1])
        assert stored == b"abc", "a refused request changed the stored bytes"


QUERY_TEXT = st.one_of(
    st.text(max_size=30),
    NUMBERS,
    st.sampled_from(["uploading", "ready", "failed", "1", "200", "201", "0"]),
)
API_QUERIES = st.fixed_dictionaries({}, optional={"status": QUERY_TEXT, "limit": QUERY_TEXT, "cursor": QUERY_TEXT})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=API_QUERIES)
def test_random_listing_queries_answer_a_page_or_a_400_with_a_reason(shared_server: Server, query: dict) -> None:
    with httpx.Client(timeout=10) as http:
        response = http.get(f"{shared_server.base_url}/api/assets", params=query)

    assert_no_unexpected_error(response)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert response.json()["error"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(upload_id=st.text(min_size=1, max_size=30), name=st.text(min_size=1, max_size=30))
def test_random_asset_paths_answer_404_never_500(shared_server: Server, upload_id: str, name: str) -> None:
    # Every character encoded, dots too, so no client-side normalisation changes which route is asked.
    quoted_id, quoted_name = (quote(segment, safe="").replace(".", "%2E") for segment in (upload_id, name))
    with httpx.Client(timeout=10) as http:
        asset = http.get(f"{shared_server.base_url}/api/assets/{quoted_id}")
        derivative = http.get(f"{shared_server.base_url}/api/assets/{quoted_id}/derivatives/{quoted_name}")

    for response in (asset, derivative):
        assert_no_unexpected_error(response)
        assert response.status_code == 404, response.text
