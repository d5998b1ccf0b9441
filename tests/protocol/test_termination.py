"""DELETE: the termination extension."""

from __future__ import annotations

import httpx

from tests.servers import TUS, Server, create_upload, upload_bytes, wait_for_asset
from tests.storage_choice import is_stored, stored_derivatives

OCTETS = {"Content-Type": "application/offset+octet-stream"}


def test_delete_answers_204_then_the_upload_is_gone(shared_server: Server, http: httpx.Client) -> None:
    location = create_upload(http, shared_server, 10)
    http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"abc")
    upload_id = location.rsplit("/", 1)[1]

    response = http.delete(location, headers=TUS)

    assert response.status_code == 204
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert http.head(location, headers=TUS).status_code == 404
    assert http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "3"}, content=b"d").status_code == 404
    assert not is_stored(shared_server.data_dir, upload_id), "neither bytes nor info are left"
    assert http.get(f"{shared_server.base_url}/api/assets/{upload_id}").status_code == 404


def test_delete_of_processed_upload_removes_its_derivatives(shared_server: Server, http: httpx.Client) -> None:
    from tests.servers import TESTDATA_MEDIA

    upload_id = upload_bytes(http, shared_server, (TESTDATA_MEDIA / "hopper.jpg").read_bytes(), "hopper.jpg")
    assert wait_for_asset(http, shared_server, upload_id)["status"] == "ready"
    assert stored_derivatives(shared_server.data_dir, upload_id) != []

    response = http.delete(shared_server.files_url + upload_id, headers=TUS)

    assert response.status_code == 204
    assert stored_derivatives(shared_server.data_dir, upload_id) == []


def test_delete_of_unknown_upload_answers_404(shared_server: Server, http: httpx.Client) -> None:
    assert http.delete(shared_server.files_url + "AAAAAAAAAAAAAAAAAAAAAA", headers=TUS).status_code == 404
