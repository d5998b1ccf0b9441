"""Quotas and the pre-create hook, refused at creation before anything exists: 413 past the storage
quota, 429 past the unfinished-upload limit, the hook's own status and message, 503 when the hook
cannot be reached; admins are exempt from quotas; /api/me shows usage and limits."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.access import CHECKED, bearer, make_jwt
from tests.servers import TUS, Server, free_port

OCTETS = "application/offset+octet-stream"


def stored(server: Server) -> set[str]:
    return {path.name for path in (server.data_dir / "uploads").iterdir()}


def metadata(**values: str) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items())


def test_storage_quota_and_unfinished_limit_refuse_at_creation_and_admins_are_exempt(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(**CHECKED, USER_QUOTA_BYTES="1000", USER_MAX_UNFINISHED="2")
    alice, root = bearer(make_jwt("alice")), bearer(make_jwt("root", admin=True))
    files = server.files_url

    first = http.post(files, headers={**TUS, **alice, "Upload-Length": "600"})
    assert first.status_code == 201
    before = stored(server)
    over = http.post(files, headers={**TUS, **alice, "Upload-Length": "401"})
    assert over.status_code == 413 and "quota" in over.text
    # creation-with-upload is refused before its body is read, and leaves nothing either
    over_with_body = http.post(
        files, content=b"x" * 401, headers={**TUS, **alice, "Upload-Length": "401", "Content-Type": OCTETS}
    )
    assert over_with_body.status_code == 413
    assert stored(server) == before
    assert http.get(f"{server.base_url}/api/assets", headers=root).json()["total"] == 1

    second = http.post(files, headers={**TUS, **alice, "Upload-Length": "400"})
    assert second.status_code == 201
    too_many = http.post(files, headers={**TUS, **alice, "Upload-Defer-Length": "1"})
    assert too_many.status_code == 429 and "unfinished" in too_many.text
    assert http.post(files, headers={**TUS, **root, "Upload-Length": "5000"}).status_code == 201

    me = http.get(f"{server.base_url}/api/me", headers=alice).json()
    assert me["user"] == "alice" and me["is_admin"] is False
    assert me["usage"] == {"bytes_stored": 0, "bytes_reserved": 1000, "uploads": 2, "unfinished_uploads": 2}
    assert me["quota"] == {"exempt": False, "bytes": 1000, "bytes_left": 0, "unfinished_uploads": 2}
    admin_me = http.get(f"{server.base_url}/api/me", headers=root).json()
    assert admin_me["is_admin"] is True and admin_me["quota"]["exempt"] is True
    assert admin_me["quota"]["bytes"] is None and admin_me["usage"]["bytes_reserved"] == 5000

    # Finishing an upload frees its unfinished slot; deleting one frees its bytes.
    patch = http.patch(
        second.headers["Location"],
        content=b"y" * 400,
        headers={**TUS, **alice, "Upload-Offset": "0", "Content-Type": OCTETS},
    )
    assert patch.status_code == 204
    assert http.post(files, headers={**TUS, **alice, "Upload-Length": "1"}).status_code == 413
    assert http.delete(first.headers["Location"], headers={**TUS, **alice}).status_code == 204
    assert http.post(files, headers={**TUS, **alice, "Upload-Length": "600"}).status_code == 201


def test_a_final_upload_counts_its_parts_bytes_once(server_with: Callable[..., Server], http: httpx.Client) -> None:
    server = server_with(**CHECKED, USER_QUOTA_BYTES="1000")
    alice = bearer(make_jwt("alice"))
    parts = []
    for _ in range(2):
        response = http.post(
            server.files_url,
            content=b"z" * 400,
            headers={**TUS, **alice, "Upload-Length": "400", "Upload-Concat": "partial", "Content-Type": OCTETS},
        )
        assert response.status_code == 201
        parts.append(response.headers["Location"])

    final = http.post(server.files_url, headers={**TUS, **alice, "Upload-Concat": "final;" + " ".join(parts)})

    assert final.status_code == 201
    assert http.get(f"{server.base_url}/api/me", headers=alice).json()["usage"]["bytes_reserved"] == 800
    refused = http.post(server.files_url, headers={**TUS, **alice, "Upload-Concat": "final;" + " ".join(parts)})
    assert refused.status_code == 413


class Hook:
    """A real HTTP endpoint on 127.0.0.1 that records what it is sent and answers by file name."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.received.append(body)
                name = body["metadata"].get("filename", "")
                if name.startswith("secret"):
                    answer: dict[str, Any] = {"reject": {"status": 403, "message": "no secrets here"}}
                elif name.startswith("rename"):
                    answer = {"metadata": {"filename": "renamed.bin", "checked-by": "hook"}}
                elif name.startswith("broken"):
                    self.send_response(500)
                    self.end_headers()
                    return
                else:
                    answer = {}
                payload = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/check"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    running = Hook()
    yield running
    running.close()


def test_the_hook_sees_every_creation_and_may_refuse_or_amend_it(
    server_with: Callable[..., Server], http: httpx.Client, hook: Hook
) -> None:
    server = server_with(**CHECKED, PRE_CREATE_HOOK_URL=hook.url, PRE_CREATE_HOOK_TIMEOUT="2")
    alice, root = bearer(make_jwt("alice")), bearer(make_jwt("root", admin=True))
    before = stored(server)

    refused = http.post(
        server.files_url,
        headers={**TUS, **alice, "Upload-Length": "5", "Upload-Metadata": metadata(filename="secret.txt")},
    )
    assert (refused.status_code, refused.text.strip()) == (403, "no secrets here")
    assert hook.received[-1] == {
        "user": "alice",
        "is_admin": False,
        "length": 5,
        "metadata": {"filename": "secret.txt"},
        "concat": None,
    }
    ietf = http.post(
        server.files_url,
        headers={
            **alice,
            "Upload-Draft-Interop-Version": "6",
            "Upload-Complete": "?0",
            "Content-Disposition": 'attachment; filename="secret.bin"',
        },
    )
    assert ietf.status_code == 403 and hook.received[-1]["metadata"].get("filename") == "secret.bin"
    broken = http.post(
        server.files_url, headers={**TUS, **alice, "Upload-Length": "5", "Upload-Metadata": metadata(filename="broken")}
    )
    assert broken.status_code == 503
    assert stored(server) == before
    assert http.get(f"{server.base_url}/api/assets", headers=root).json()["total"] == 0

    amended = http.post(
        server.files_url,
        content=b"hello",
        headers={
            **TUS,
            **alice,
            "Upload-Length": "5",
            "Content-Type": OCTETS,
            "Upload-Metadata": metadata(filename="rename-me"),
        },
    )
    assert amended.status_code == 201
    asset = http.get(
        f"{server.base_url}/api/assets/{amended.headers['Location'].rsplit('/', 1)[1]}", headers=alice
    ).json()
    assert asset["filename"] == "renamed.bin" and asset["metadata"] == {"filename": "renamed.bin", "checked-by": "hook"}
    plain = http.post(
        server.files_url, headers={**TUS, **root, "Upload-Length": "5", "Upload-Metadata": metadata(filename="ok.bin")}
    )
    assert plain.status_code == 201 and hook.received[-1]["is_admin"] is True


def test_an_unreachable_hook_refuses_with_503_unless_failing_open(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/check"
    strict = server_with(**CHECKED, PRE_CREATE_HOOK_URL=closed, PRE_CREATE_HOOK_TIMEOUT="1")
    lenient = server_with(**CHECKED, PRE_CREATE_HOOK_URL=closed, PRE_CREATE_HOOK_FAIL_OPEN="true")
    alice = bearer(make_jwt("alice"))
    before = stored(strict)

    refused = http.post(strict.files_url, headers={**TUS, **alice, "Upload-Length": "5"})

    assert refused.status_code == 503 and "unavailable" in refused.text
    assert stored(strict) == before
    assert http.post(lenient.files_url, headers={**TUS, **alice, "Upload-Length": "5"}).status_code == 201
