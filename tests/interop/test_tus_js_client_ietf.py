"""tus-js-client's experimental IETF draft support (its ``protocol`` option) in Node against the real server.

tus-js-client 4.3.1 offers two draft dialects besides tus: ``ietf-draft-03`` (interop version 5, no media
type on appends) and ``ietf-draft-05`` (interop version 6, appends as ``application/partial-upload``).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.interop.node_scripts import run_node_script
from tests.interop.server_side import MIB, listed_asset_ids, random_file, stored_sha256, upload_id_of
from tests.servers import Server, wait_for_asset

SIZE = 5 * MIB
METADATA = {"filename": "random.bin", "filetype": "application/octet-stream"}
PROTOCOLS = {"ietf-draft-03": "5", "ietf-draft-05": "6"}


def _methods(exchanges: list[dict[str, object]]) -> list[object]:
    return [exchange["method"] for exchange in exchanges]


def _upload(node: str, server: Server, tmp_path: Path, protocol: str, **options: object) -> tuple[str, dict]:
    """Upload a random file with tus-js-client in ``protocol``; returns its SHA-256 and the script's record."""
    source = tmp_path / "random.bin"
    digest = random_file(source, SIZE)
    config = {
        "endpoint": server.files_url,
        "path": str(source),
        "chunkSize": MIB,
        "protocol": protocol,
        "metadata": METADATA,
        "urlStoragePath": str(tmp_path / "tus-url-storage.json"),
        **options,
    }
    return digest, run_node_script(node, "ietf-upload.mjs", config)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_tus_js_client_uploads_through_the_ietf_draft_in_chunks_byte_identical(
    server: Server, http: httpx.Client, tmp_path: Path, node: str, protocol: str
) -> None:
    digest, result = _upload(node, server, tmp_path, protocol)

    exchanges = result["exchanges"]
    assert _methods(exchanges) == ["POST"] + ["PATCH"] * 5
    assert {exchange["headers"]["Upload-Draft-Interop-Version"] for exchange in exchanges} == {PROTOCOLS[protocol]}
    assert all(exchange["tusResumable"] is None for exchange in exchanges), "the draft's requests are not tus"
    assert exchanges[-1]["uploadComplete"] == "?1"
    upload_id = upload_id_of(result["url"])
    assert stored_sha256(server, upload_id) == digest
    asset = wait_for_asset(http, server, upload_id)
    assert (asset["status"], asset["length"], asset["filename"]) == ("ready", SIZE, "random.bin")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_tus_js_client_resumes_an_aborted_ietf_draft_upload_without_creating_another(
    server: Server, http: httpx.Client, tmp_path: Path, node: str, protocol: str
) -> None:
    # During the third PATCH: two chunks are on the server, the third one is cut off or not acknowledged.
    digest, result = _upload(node, server, tmp_path, protocol, abortAfterBytes=2 * MIB + MIB // 2)

    assert result["url"] == result["abortedUrl"]
    resumed = result["exchanges"]
    assert "POST" not in _methods(resumed), resumed
    head, first_patch = resumed[0], resumed[1]
    assert (head["method"], head["status"]) == ("HEAD", 204)
    assert int(head["uploadOffset"]) >= 2 * MIB
    assert first_patch["headers"]["Upload-Offset"] == head["uploadOffset"]
    if protocol == "ietf-draft-05":
        assert first_patch["headers"]["Content-Type"] == "application/partial-upload"
    upload_id = upload_id_of(result["url"])
    assert stored_sha256(server, upload_id) == digest
    assert wait_for_asset(http, server, upload_id)["status"] == "ready"
    assert listed_asset_ids(http, server) == [upload_id]
