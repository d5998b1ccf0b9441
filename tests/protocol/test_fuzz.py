"""Random header values at every tus endpoint: never a 500, never a traceback, and a refused request
never changes the bytes already stored."""

from __future__ import annotations

import string

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.servers import TUS, Server

HEADER_TEXT = st.text(
    alphabet=string.printable.replace("\r", "").replace("\n", "").replace("\x0b", "").replace("\x0c", ""), max_size=60
)
NUMBERS = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.sampled_from(["", "0", "3", "5", "1e3", "0x10", "+3", "-0", "2.0", "00005"]),
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
    "Range": st.one_of(st.sampled_from(["bytes=0-1", "bytes=-1", "bytes=5-", "bytes=2-1"]), HEADER_TEXT),
}
REQUESTS = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["POST", "HEAD", "PATCH", "DELETE", "GET", "OPTIONS", "PUT"]),
        "target": st.sampled_from(["collection", "upload"]),
        "headers": st.fixed_dictionaries({}, optional=OPTIONAL),
        "body": st.binary(max_size=12),
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=REQUESTS)
def test_random_requests_never_crash_the_server_or_change_bytes_when_refused(
    shared_server: Server, request: dict
) -> None:
    with httpx.Client(timeout=10) as http:
        created = http.post(
            shared_server.files_url,
            headers={**TUS, "Upload-Length": "5", "Content-Type": "application/offset+octet-stream"},
            content=b"abc",
        )
        location = created.headers["Location"]
        stored = shared_server.data_dir / "uploads" / location.rsplit("/", 1)[1]
        url = shared_server.files_url if request["target"] == "collection" else location

        headers = {name: value.strip() for name, value in request["headers"].items()}
        response = http.request(request["method"], url, headers=headers, content=request["body"])

    assert response.status_code < 500, (response.status_code, response.text)
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        assert stored.read_bytes() == b"abc", "a refused request changed the stored bytes"
