"""CORS: a page on another origin can use every tus feature and read every tus header."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.servers import TUS, Server

PAGE = "http://127.0.0.1:9"  # any origin other than the server's
TUS_REQUEST_HEADERS = [
    "tus-resumable",
    "upload-length",
    "upload-offset",
    "upload-metadata",
    "upload-defer-length",
    "upload-concat",
    "upload-checksum",
    "content-type",
    "x-http-method-override",
    "authorization",
]


@pytest.mark.parametrize("method", ["POST", "PATCH", "HEAD", "DELETE", "GET"])
def test_preflight_allows_every_tus_method_and_header(shared_server: Server, http: httpx.Client, method: str) -> None:
    response = http.options(
        shared_server.files_url + "AAAAAAAAAAAAAAAAAAAAAA",
        headers={
            "Origin": PAGE,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": ",".join(TUS_REQUEST_HEADERS),
        },
    )

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] in ("*", PAGE)
    assert method in response.headers["Access-Control-Allow-Methods"]
    allowed = {name.strip().lower() for name in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert set(TUS_REQUEST_HEADERS) <= allowed


def test_responses_expose_the_tus_headers(shared_server: Server, http: httpx.Client) -> None:
    response = http.post(shared_server.files_url, headers={**TUS, "Upload-Length": "5", "Origin": PAGE})

    assert response.status_code == 201
    assert response.headers["Access-Control-Allow-Origin"] in ("*", PAGE)
    exposed = {name.strip().lower() for name in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {
        "location",
        "upload-offset",
        "upload-length",
        "upload-metadata",
        "upload-expires",
        "upload-concat",
        "upload-defer-length",
        "tus-resumable",
        "tus-version",
        "tus-extension",
        "tus-max-size",
        "tus-checksum-algorithm",
    } <= exposed


def test_errors_carry_cors_headers_so_the_page_can_read_them(shared_server: Server, http: httpx.Client) -> None:
    response = http.head(shared_server.files_url + "AAAAAAAAAAAAAAAAAAAAAA", headers={**TUS, "Origin": PAGE})

    assert response.status_code == 404
    assert response.headers["Access-Control-Allow-Origin"] in ("*", PAGE)


def test_explicit_origin_list_admits_only_those_origins(server_with: Callable[..., Server], http: httpx.Client) -> None:
    server = server_with(CORS_ALLOW_ORIGINS="https://app.example,https://admin.example")
    preflight = {"Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": "upload-offset"}

    allowed = http.options(server.files_url, headers={"Origin": "https://app.example", **preflight})
    refused = http.options(server.files_url, headers={"Origin": "https://evil.example", **preflight})

    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert refused.status_code == 400
    assert "Access-Control-Allow-Origin" not in refused.headers
