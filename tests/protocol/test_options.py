"""OPTIONS: discovery of version, extensions and limits (tus 1.0.0, core protocol, OPTIONS)."""

from __future__ import annotations

import httpx
import pytest

from tests.servers import Server


@pytest.mark.parametrize("path", ["/files/", "/files"])
def test_options_answers_200_with_version_extensions_and_max_size_without_tus_resumable(
    shared_server: Server, http: httpx.Client, path: str
) -> None:
    response = http.options(shared_server.base_url + path)

    assert response.status_code == 200
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.headers["Tus-Version"] == "1.0.0"
    assert set(response.headers["Tus-Extension"].split(",")) == {"creation", "creation-with-upload", "termination"}
    assert response.headers["Tus-Max-Size"] == str(500 * 1024 * 1024)


def test_options_on_an_upload_url_also_answers(shared_server: Server, http: httpx.Client) -> None:
    response = http.options(shared_server.files_url + "AAAAAAAAAAAAAAAAAAAAAA")

    assert response.status_code == 200
    assert response.headers["Tus-Version"] == "1.0.0"
