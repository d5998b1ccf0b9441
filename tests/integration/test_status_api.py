"""The JSON status API through a real server."""

from __future__ import annotations

import httpx
import pytest

from tests.servers import TESTDATA_MEDIA, Server, create_upload, upload_bytes, wait_for_asset


def test_listing_is_newest_first_with_status_filter_and_cursor_pages(server: Server, http: httpx.Client) -> None:
    uploading = [create_upload(http, server, 10).rsplit("/", 1)[1] for _ in range(3)]
    ready = upload_bytes(http, server, (TESTDATA_MEDIA / "hopper.png").read_bytes(), "hopper.png")
    failed = upload_bytes(http, server, (TESTDATA_MEDIA / "truncated_jpeg.jpg").read_bytes(), "broken.jpg")
    wait_for_asset(http, server, ready)
    wait_for_asset(http, server, failed)

    pages, url = [], f"{server.base_url}/api/assets?limit=2"
    while url and len(pages) < 10:
        body = http.get(url).json()
        pages.append([item["id"] for item in body["items"]])
        url = body["next"]

    assert pages == [[failed, ready], [uploading[2], uploading[1]], [uploading[0]]]
    only_failed = http.get(f"{server.base_url}/api/assets", params={"status": "failed"}).json()
    assert [item["id"] for item in only_failed["items"]] == [failed]
    assert only_failed["items"][0]["error"].startswith("corrupt image")
    assert only_failed["next"] is None


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"status": "done"}, "unknown status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        # str.isdigit() is true for all three; int() even reads the fullwidth one.
        ({"limit": "²"}, "limit"),
        ({"limit": "٣"}, "limit"),
        ({"limit": "\uff11"}, "limit"),
        ({"limit": "1" * 20}, "limit"),
        ({"limit": "1" * 4301}, "limit"),
        ({"limit": "+5"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"cursor": "%%%"}, "cursor"),
    ],
)
def test_bad_listing_query_answers_400_with_a_reason(
    shared_server: Server, http: httpx.Client, query: dict[str, str], reason: str
) -> None:
    response = http.get(f"{shared_server.base_url}/api/assets", params=query)

    assert response.status_code == 400
    assert reason in response.json()["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/assets/AAAAAAAAAAAAAAAAAAAAAA",
        "/api/assets/not-an-id",
        "/api/assets/AAAAAAAAAAAAAAAAAAAAAA/derivatives/thumb_256.jpg",
    ],
)
def test_unknown_asset_answers_404(shared_server: Server, http: httpx.Client, path: str) -> None:
    response = http.get(shared_server.base_url + path)

    assert response.status_code == 404
    assert response.json()["error"]


def test_only_recorded_derivative_names_are_served(shared_server: Server, http: httpx.Client) -> None:
    upload_id = upload_bytes(http, shared_server, (TESTDATA_MEDIA / "hopper.jpg").read_bytes())
    wait_for_asset(http, shared_server, upload_id)
    base = f"{shared_server.base_url}/api/assets/{upload_id}/derivatives"

    served = http.get(f"{base}/thumb_256.jpg")

    assert (served.status_code, served.headers["content-type"]) == (200, "image/jpeg")
    assert http.get(f"{base}/thumb_999.jpg").json() == {"error": "no such derivative"}


def test_a_name_that_is_a_real_file_in_the_asset_folder_but_not_recorded_is_refused(
    shared_server: Server, http: httpx.Client
) -> None:
    upload_id = upload_bytes(http, shared_server, (TESTDATA_MEDIA / "hopper.jpg").read_bytes())
    wait_for_asset(http, shared_server, upload_id)
    folder = shared_server.data_dir / "derivatives" / upload_id
    # Real files on disk under names a request can carry in one path segment: a link to the server's
    # log beside the thumbnails, and a plain file. Only the recorded-names check stands between them
    # and the client, since the path built from either exists and is a file.
    (folder / "server.log").symlink_to(shared_server.log_path)
    (folder / "notes.txt").write_bytes(b"planted secret")
    base = f"{shared_server.base_url}/api/assets/{upload_id}/derivatives"

    for name in ("server.log", "notes.txt", "%2E%2E", "%2E"):
        response = http.get(f"{base}/{name}")

        # The JSON reason shows the request reached the handler, not just the router's plain 404.
        assert (response.status_code, response.json()) == (404, {"error": "no such derivative"}), name
        assert b"SQLite" not in response.content and b"planted" not in response.content


def test_a_name_with_an_encoded_slash_matches_no_route(shared_server: Server, http: httpx.Client) -> None:
    # uvicorn decodes %2F before routing, so the name has a slash and the derivative route never
    # matches: this 404 is the router's, which is why the test above plants files instead.
    upload_id = upload_bytes(http, shared_server, (TESTDATA_MEDIA / "hopper.jpg").read_bytes())

    response = http.get(f"{shared_server.base_url}/api/assets/{upload_id}/derivatives/..%2F..%2Ftusmedia.db")

    assert response.status_code == 404
    assert b"SQLite" not in response.content
