"""tus-js-client, the reference JavaScript tus client, in Node against the real server."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.access import CHECKED, bearer, make_token
from tests.interop.node_scripts import run_node_script
from tests.interop.server_side import MIB, listed_asset_ids, random_file, stored_sha256, upload_id_of
from tests.servers import TUS, Server, start_server, wait_for_asset
from tests.storage_choice import is_stored

SIZE = 5 * MIB
METADATA = {"filename": "random.bin", "filetype": "application/octet-stream"}


def _methods(exchanges: list[dict[str, object]]) -> list[object]:
    return [exchange["method"] for exchange in exchanges]


def test_tus_js_client_uploads_5_mib_in_1_mib_chunks_with_metadata_byte_identical(
    server: Server, http: httpx.Client, tmp_path: Path, node: str
) -> None:
    source = tmp_path / "random.bin"
    digest = random_file(source, SIZE)

    result = run_node_script(
        node, "upload.mjs", {"endpoint": server.files_url, "path": str(source), "chunkSize": MIB, "metadata": METADATA}
    )

    assert _methods(result["exchanges"]) == ["POST"] + ["PATCH"] * 5
    upload_id = upload_id_of(result["url"])
    assert stored_sha256(server, upload_id) == digest
    asset = wait_for_asset(http, server, upload_id)
    assert (asset["status"], asset["length"], asset["filename"], asset["declared_type"]) == (
        "ready",
        SIZE,
        "random.bin",
        "application/octet-stream",
    )


def test_tus_js_client_resumes_an_aborted_upload_through_url_storage_without_creating_another(
    server: Server, http: httpx.Client, tmp_path: Path, node: str
) -> None:
    source = tmp_path / "random.bin"
    digest = random_file(source, SIZE)

    result = run_node_script(
        node,
        "abort-and-resume.mjs",
        {
            "endpoint": server.files_url,
            "path": str(source),
            "chunkSize": MIB,
            # During the third PATCH: two chunks are on the server, the third one is cut off or not acknowledged.
            "abortAfterBytes": 2 * MIB + MIB // 2,
            "urlStoragePath": str(tmp_path / "tus-url-storage.json"),
        },
    )

    assert result["previousUploadUrls"] == [result["abortedUrl"]]
    assert result["resumedUrl"] == result["abortedUrl"]
    resumed = result["exchanges"]
    assert "POST" not in _methods(resumed), resumed
    head, first_patch = resumed[0], resumed[1]
    assert (head["method"], head["status"]) == ("HEAD", 200)
    assert int(head["uploadOffset"]) >= 2 * MIB
    assert first_patch["headers"]["Upload-Offset"] == head["uploadOffset"]
    upload_id = upload_id_of(result["resumedUrl"])
    assert stored_sha256(server, upload_id) == digest
    assert wait_for_asset(http, server, upload_id)["status"] == "ready"
    assert listed_asset_ids(http, server) == [upload_id]


def test_tus_js_client_parallel_uploads_concatenate_into_one_ready_asset(
    server: Server, http: httpx.Client, tmp_path: Path, node: str
) -> None:
    source = tmp_path / "random.bin"
    digest = random_file(source, SIZE)

    result = run_node_script(
        node,
        "upload.mjs",
        {
            "endpoint": server.files_url,
            "path": str(source),
            "chunkSize": MIB,
            "metadata": METADATA,
            "parallelUploads": 3,
        },
    )

    final_id = upload_id_of(result["url"])
    assert stored_sha256(server, final_id) == digest
    asset = wait_for_asset(http, server, final_id)
    assert (asset["status"], asset["length"], asset["filename"]) == ("ready", SIZE, "random.bin")
    assert listed_asset_ids(http, server) == [final_id], "partial uploads must not become assets"


def test_tus_js_client_abort_with_terminate_deletes_the_upload_and_its_bytes(
    server: Server, http: httpx.Client, tmp_path: Path, node: str
) -> None:
    source = tmp_path / "random.bin"
    random_file(source, SIZE)

    result = run_node_script(
        node,
        "abort-and-terminate.mjs",
        {"endpoint": server.files_url, "path": str(source), "chunkSize": MIB, "abortAfterBytes": MIB + MIB // 2},
    )

    delete = result["exchanges"][-1]
    assert (delete["method"], delete["url"], delete["status"]) == ("DELETE", result["url"], 204)
    upload_id = upload_id_of(result["url"])
    assert http.head(result["url"], headers=TUS).status_code == 404
    assert not is_stored(server.data_dir, upload_id)
    assert http.get(f"{server.base_url}/api/assets/{upload_id}").status_code == 404


def test_tus_js_client_uploads_with_a_token_and_the_parts_and_asset_are_its_users(
    tmp_path: Path, http: httpx.Client, node: str
) -> None:
    server = start_server(tmp_path / "data", CHECKED)
    try:
        alice, bob = (bearer(make_token(server.data_dir, user)) for user in ("alice", "bob"))
        source = tmp_path / "random.bin"
        digest = random_file(source, 2 * MIB)
        config = {"endpoint": server.files_url, "path": str(source), "chunkSize": MIB, "metadata": METADATA}

        result = run_node_script(node, "upload.mjs", {**config, "parallelUploads": 2, "headers": alice})

        upload_id = upload_id_of(result["url"])
        assert stored_sha256(server, upload_id) == digest
        assert {exchange["status"] for exchange in result["exchanges"]} <= {201, 204}
        asset = http.get(f"{server.base_url}/api/assets/{upload_id}", headers=alice).json()
        assert asset["owner"] == "alice"
        assert http.get(f"{server.base_url}/api/assets/{upload_id}", headers=bob).status_code == 404
        assert http.head(result["url"], headers={**TUS, **bob}).status_code == 404
    finally:
        server.stop()
