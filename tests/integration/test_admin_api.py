"""The admin status API on a server that checks credentials: filters, totals, active uploads, stats,
reprocessing and deletion; users see only their own rows in every listing, count and stat."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.access import CHECKED, bearer, make_jwt
from tests.servers import TESTDATA_MEDIA, TUS, Server, upload_bytes, wait_for_asset

Headers = dict[str, str]


def ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["items"]]


def test_listing_filters_totals_and_pages_and_users_see_only_their_own(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(**CHECKED)
    alice, bob, root = bearer(make_jwt("alice")), bearer(make_jwt("bob")), bearer(make_jwt("root", admin=True))
    ready = upload_bytes(http, server, (TESTDATA_MEDIA / "hopper.png").read_bytes(), "Holiday-Hopper.png", alice)
    failed = upload_bytes(http, server, (TESTDATA_MEDIA / "truncated_jpeg.jpg").read_bytes(), "broken.jpg", alice)
    bobs = upload_bytes(http, server, (TESTDATA_MEDIA / "hopper.jpg").read_bytes(), "bob.jpg", bob)
    for upload_id, headers in ((ready, alice), (failed, alice), (bobs, bob)):
        wait_for_asset(http, server, upload_id, headers=headers)
    unfinished = http.post(server.files_url, headers={**TUS, **alice, "Upload-Length": "10"})
    unfinished_id = unfinished.headers["Location"].rsplit("/", 1)[1]
    url = f"{server.base_url}/api/assets"

    def listing(headers: Headers, **query: Any) -> dict[str, Any]:
        response = http.get(url, headers=headers, params=query)
        assert response.status_code == 200, response.text
        return response.json()

    everything = listing(root)
    assert ids(everything) == [unfinished_id, bobs, failed, ready] and everything["total"] == 4
    assert set(ids(listing(root, status=["failed", "uploading"]))) == {failed, unfinished_id}
    assert set(ids(listing(root, status="failed,ready"))) == {failed, ready, bobs}
    assert ids(listing(root, owner="bob")) == [bobs]
    assert ids(listing(root, q="HOLIDAY")) == [ready]
    assert ids(listing(root, filename="broken")) == [failed]
    assert ids(listing(root, error="CORRUPT")) == [failed]
    images = set(ids(listing(root, type="image/*")))
    assert {ready, bobs} <= images and unfinished_id not in images
    assert ids(listing(root, type="image/png")) == [ready]
    assert listing(root, created_after="2999-01-01T00:00:00Z")["total"] == 0
    assert listing(root, created_before="2999-01-01")["total"] == 4
    created = http.get(f"{url}/{failed}", headers=root).json()["created_at"]
    assert set(ids(listing(root, created_after=created))) == {failed, bobs, unfinished_id}

    pages, next_url = [], f"{url}?limit=1&status=ready&status=failed"
    while next_url and len(pages) < 5:
        body = http.get(next_url, headers=root).json()
        assert body["total"] == 3
        pages.append(ids(body))
        next_url = body["next"]
    assert pages == [[bobs], [failed], [ready]]

    mine = listing(alice)
    assert ids(mine) == [unfinished_id, failed, ready] and mine["total"] == 3
    assert listing(alice, owner="bob") == {"items": [], "next": None, "total": 0}
    assert listing(bob, q="hopper") == {"items": [], "next": None, "total": 0}
    assert listing(bob, status="failed")["total"] == 0
    for bad in ({"created_after": "yesterday"}, {"type": "not a type"}, {"status": "done"}):
        response = http.get(url, headers=root, params=bad)
        assert response.status_code == 400 and response.json()["error"]


def _stats_once_the_queue_is_empty(http: httpx.Client, server: Server, headers: dict[str, str]) -> dict:
    deadline = time.monotonic() + 5
    while True:
        stats = http.get(f"{server.base_url}/api/stats", headers=headers).json()
        if stats["queue"]["depth"] == 0 or time.monotonic() > deadline:
            return stats
        time.sleep(0.05)


def test_stats_count_everyone_for_admins_and_only_the_users_own_for_users(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(**CHECKED)
    alice, bob, root = bearer(make_jwt("alice")), bearer(make_jwt("bob")), bearer(make_jwt("root", admin=True))
    png = (TESTDATA_MEDIA / "hopper.png").read_bytes()
    broken = (TESTDATA_MEDIA / "truncated_jpeg.jpg").read_bytes()
    uploads = [
        (upload_bytes(http, server, png, "a.png", alice), alice),
        (upload_bytes(http, server, broken, "b.jpg", bob), bob),
        (upload_bytes(http, server, broken, "c.jpg", bob), bob),
    ]
    for upload_id, headers in uploads:
        wait_for_asset(http, server, upload_id, headers=headers)

    # The worker tells the server its queue's depth as each job ends, a moment after the job's commit.
    everyone = _stats_once_the_queue_is_empty(http, server, root)
    own = http.get(f"{server.base_url}/api/stats", headers=alice).json()

    assert everyone["scope"] == "all"
    assert everyone["by_status"]["ready"] == {"count": 1, "bytes": len(png)}
    assert everyone["by_status"]["failed"] == {"count": 2, "bytes": 2 * len(broken)}
    assert everyone["total"] == {"count": 3, "bytes": len(png) + 2 * len(broken)}
    assert {row["owner"]: row["count"] for row in everyone["by_owner"]} == {"alice": 1, "bob": 2}
    assert everyone["queue"]["depth"] == 0 and everyone["queue"]["oldest_queued_at"] is None
    assert everyone["processing_time_ms"]["last_hour"]["count"] >= 1
    assert everyone["processing_time_ms"]["last_hour"]["p50"] is not None
    assert everyone["failures"][0]["count"] == 2 and everyone["failures"][0]["reason"].startswith("corrupt image")

    assert own["scope"] == "own" and own["by_owner"] is None and own["queue"]["depth"] is None
    assert own["total"] == {"count": 1, "bytes": len(png)}
    assert own["failures"] == []
    assert own["by_status"]["failed"] == {"count": 0, "bytes": 0}


def test_active_uploads_show_offset_rate_and_last_activity(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(**CHECKED)
    alice, bob, root = bearer(make_jwt("alice")), bearer(make_jwt("bob")), bearer(make_jwt("root", admin=True))
    location = http.post(server.files_url, headers={**TUS, **alice, "Upload-Length": str(10 * 65536)}).headers[
        "Location"
    ]
    upload_id = location.rsplit("/", 1)[1]
    for offset in range(0, 3 * 65536, 65536):
        response = http.patch(
            location,
            content=b"x" * 65536,
            headers={**TUS, **alice, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
        )
        assert response.status_code == 204, response.text
        time.sleep(0.6)

    active = http.get(f"{server.base_url}/api/uploads/active", headers=root).json()
    (item,) = active["items"]
    assert item["id"] == upload_id and item["owner"] == "alice"
    assert (item["offset"], item["length"]) == (3 * 65536, 10 * 65536)
    # 192 KiB over about 1.8 s (the first sample is the creation at offset 0).
    assert 10_000 < item["bytes_per_second"] < 3 * 65536 / 1.0
    assert item["last_activity"] >= item["created_at"]
    assert http.get(f"{server.base_url}/api/uploads/active", headers=alice).json()["total"] == 1
    assert http.get(f"{server.base_url}/api/uploads/active", headers=bob).json() == {
        "items": [],
        "total": 0,
        "window_seconds": 60.0,
    }


def test_reprocess_is_for_admins_and_delete_for_owners_and_admins(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(**CHECKED)
    alice, bob, root = bearer(make_jwt("alice")), bearer(make_jwt("bob")), bearer(make_jwt("root", admin=True))
    broken = (TESTDATA_MEDIA / "truncated_jpeg.jpg").read_bytes()
    failed = [upload_bytes(http, server, broken, f"broken-{n}.jpg", alice) for n in range(2)]
    ready = upload_bytes(http, server, (TESTDATA_MEDIA / "hopper.jpg").read_bytes(), "hopper.jpg", alice)
    for upload_id in [*failed, ready]:
        wait_for_asset(http, server, upload_id, headers=alice)
    unfinished = http.post(server.files_url, headers={**TUS, **alice, "Upload-Length": "10"}).headers["Location"]
    api = f"{server.base_url}/api/assets"

    assert http.post(f"{api}/{failed[0]}/reprocess", headers=alice).status_code == 403
    assert http.post(f"{api}/reprocess", headers=alice, json={"status": "failed"}).status_code == 403
    assert http.post(f"{api}/{unfinished.rsplit('/', 1)[1]}/reprocess", headers=root).status_code == 409
    assert http.post(f"{api}/AAAAAAAAAAAAAAAAAAAAAA/reprocess", headers=root).status_code == 404
    assert http.post(f"{api}/reprocess", headers=root, json={}).status_code == 400

    one = http.post(f"{api}/{ready}/reprocess", headers=root)
    assert one.status_code == 202 and one.json() == {"queued": 1, "ids": [ready]}
    assert wait_for_asset(http, server, ready, ("ready",), headers=alice)["attempts"] == 2
    bulk = http.post(f"{api}/reprocess", headers=root, json={"status": "failed", "error": "corrupt"})
    assert bulk.status_code == 202 and bulk.json()["queued"] == 2 and set(bulk.json()["ids"]) == set(failed)
    for upload_id in failed:
        deadline = time.monotonic() + 30
        while http.get(f"{api}/{upload_id}", headers=alice).json()["attempts"] < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert wait_for_asset(http, server, upload_id, ("failed",), headers=alice)["attempts"] == 2

    assert http.delete(f"{api}/{ready}", headers=bob).status_code == 404
    assert http.delete(f"{api}/{ready}", headers=alice).status_code == 204
    assert http.get(f"{api}/{ready}", headers=alice).status_code == 404
    assert not (server.data_dir / "uploads" / ready).exists()
    assert not (server.data_dir / "derivatives" / ready).exists()
    assert http.head(f"{server.files_url}{ready}", headers={**TUS, **alice}).status_code == 404
    assert http.delete(f"{api}/{failed[0]}", headers=root).status_code == 204
    assert http.get(f"{api}", headers=alice).json()["total"] == 2
