"""Behind a reverse proxy: Location from forwarded headers when trusted, or relative when asked."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.servers import TUS, Server

CREATE = {**TUS, "Upload-Length": "1"}


@pytest.mark.parametrize(
    ("headers", "prefix"),
    [
        ({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "uploads.example"}, "https://uploads.example/files/"),
        ({"Forwarded": 'for=1.2.3.4;proto=https;host="media.example:8443"'}, "https://media.example:8443/files/"),
        ({"Forwarded": "proto=https;host=a.example, proto=http;host=b.internal"}, "https://a.example/files/"),
        ({"X-Forwarded-Proto": "https"}, "https://127.0.0.1:{port}/files/"),
    ],
)
def test_trusted_proxy_headers_shape_the_location(
    server_with: Callable[..., Server], http: httpx.Client, headers: dict[str, str], prefix: str
) -> None:
    server = server_with(TRUST_PROXY_HEADERS="true")

    location = http.post(server.files_url, headers={**CREATE, **headers}).headers["Location"]

    assert location.startswith(prefix.format(port=server.port))


def test_proxy_headers_are_ignored_unless_trusted(shared_server: Server, http: httpx.Client) -> None:
    headers = {**CREATE, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example", "Forwarded": "host=x"}

    location = http.post(shared_server.files_url, headers=headers).headers["Location"]

    assert location.startswith(shared_server.files_url)


def test_relative_location_when_configured(server_with: Callable[..., Server], http: httpx.Client) -> None:
    server = server_with(RELATIVE_LOCATION="true")

    location = http.post(server.files_url, headers=CREATE).headers["Location"]

    assert location.startswith("/files/")
    assert http.head(server.base_url + location, headers=TUS).status_code == 200
