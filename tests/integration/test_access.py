"""Who may do what: every endpoint by every kind of caller, through a real server with real tokens.

The owner and an admin succeed; another user gets exactly what a missing upload gets (same status,
same body); no credentials, or bad ones, get 401 with a Bearer challenge (and Tus-Resumable on the
tus endpoints). Uploads are made for each cell that changes something, so cells never see each other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.access import CHECKED, bearer, make_jwt, make_token, tusmedia
from tests.database_choice import everything_stored
from tests.servers import TESTDATA_MEDIA, TUS, Server, start_server, wait_for_asset

OCTETS = {"Content-Type": "application/offset+octet-stream"}
IETF = {"Upload-Draft-Interop-Version": "6"}
PHOTO = (TESTDATA_MEDIA / "hopper.jpg").read_bytes()
MISSING_ID = "AAAAAAAAAAAAAAAAAAAAAA"


@dataclass
class World:
    server: Server
    credentials: dict[str, dict[str, str]]  # caller -> headers
    photo: str  # alice's finished, processed upload
    derivative: str  # one of its derivative names


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir: Path = tmp_path_factory.mktemp("access") / "data"
    server = start_server(data_dir, CHECKED)
    try:
        revoked = make_token(data_dir, "alice")
        revoked_id = revoked.split("_")[1]
        assert tusmedia(data_dir, "token", "revoke", revoked_id).returncode == 0
        expired = make_token(data_dir, "alice", expires_days=1 / 86400)  # one second
        time.sleep(1.1)
        alice = bearer(make_token(data_dir, "alice"))
        credentials = {
            "owner": alice,
            "owner by JWT": bearer(make_jwt("alice")),
            "other user": bearer(make_token(data_dir, "bob")),
            "other user by JWT": bearer(make_jwt("bob")),
            "admin": bearer(make_token(data_dir, "root", admin=True)),
            "admin by JWT": bearer(make_jwt("carol", admin=True)),
            "anonymous": {},
            "malformed header": {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
            "empty bearer": {"Authorization": "Bearer"},
            "unknown token": bearer("tm_0123456789ab_" + "x" * 43),
            "revoked token": bearer(revoked),
            "expired token": bearer(expired),
            "expired JWT": bearer(make_jwt("alice", expires_in=-120)),
            "JWT for another audience": bearer(make_jwt("alice", audience="someone-else")),
            "JWT with a bad signature": bearer(make_jwt("alice")[:-4] + "AAAA"),
        }
        with httpx.Client(timeout=30) as http:
            photo = _create(http, server, alice, PHOTO)
            asset = wait_for_asset(http, server, photo, headers=alice)
        yield World(server, credentials, photo, sorted(asset["derivatives"])[0])
    finally:
        server.stop()


def _create(http: httpx.Client, server: Server, headers: dict[str, str], body: bytes = b"", length: int = 0) -> str:
    response = http.post(
        server.files_url,
        headers={
            **TUS,
            **OCTETS,
            **headers,
            "Upload-Length": str(length or len(body)),
            "Upload-Metadata": "filename cC5qcGc=",
        },
        content=body,
    )
    assert response.status_code == 201, response.text
    return response.headers["Location"].rsplit("/", 1)[1]


def _unfinished(world: World, http: httpx.Client) -> str:
    return _create(http, world.server, world.credentials["owner"], b"abc", length=10)


Call = Callable[[World, httpx.Client, dict[str, str], str], httpx.Response]


def _files(world: World, upload_id: str) -> str:
    return world.server.files_url + upload_id


# name -> (what the target is, the request, the owner's success status)
ENDPOINTS: dict[str, tuple[str, Call, int]] = {
    "tus HEAD": ("unfinished", lambda w, h, a, i: h.head(_files(w, i), headers={**TUS, **a}), 200),
    "tus PATCH": (
        "unfinished",
        lambda w, h, a, i: h.patch(_files(w, i), headers={**TUS, **OCTETS, **a, "Upload-Offset": "3"}, content=b"de"),
        204,
    ),
    "tus DELETE": ("unfinished", lambda w, h, a, i: h.delete(_files(w, i), headers={**TUS, **a}), 204),
    "download GET": ("photo", lambda w, h, a, i: h.get(_files(w, i), headers=a), 200),
    "IETF HEAD": ("unfinished", lambda w, h, a, i: h.head(_files(w, i), headers={**IETF, **a}), 204),
    "IETF PATCH": (
        "unfinished",
        lambda w, h, a, i: h.patch(
            _files(w, i),
            headers={
                **IETF,
                **a,
                "Content-Type": "application/partial-upload",
                "Upload-Offset": "3",
                "Upload-Complete": "?0",
            },
            content=b"de",
        ),
        204,
    ),
    "IETF DELETE": ("unfinished", lambda w, h, a, i: h.delete(_files(w, i), headers={**IETF, **a}), 204),
    "final naming the part": (
        "partial",
        lambda w, h, a, i: h.post(
            w.server.files_url, headers={**TUS, **a, "Upload-Concat": f"final;{w.server.files_url}{i}"}
        ),
        201,
    ),
    "asset GET": ("photo", lambda w, h, a, i: h.get(f"{w.server.base_url}/api/assets/{i}", headers=a), 200),
    "derivative GET": (
        "photo",
        lambda w, h, a, i: h.get(f"{w.server.base_url}/api/assets/{i}/derivatives/{w.derivative}", headers=a),
        200,
    ),
}
OWNERS = ["owner", "owner by JWT", "admin", "admin by JWT"]
OTHERS = ["other user", "other user by JWT"]
REFUSED = [
    "anonymous",
    "malformed header",
    "empty bearer",
    "unknown token",
    "revoked token",
    "expired token",
    "expired JWT",
    "JWT for another audience",
    "JWT with a bad signature",
]


def _target(world: World, http: httpx.Client, kind: str) -> str:
    if kind == "photo":
        return world.photo
    if kind == "partial":
        response = http.post(
            world.server.files_url,
            headers={**TUS, **world.credentials["owner"], "Upload-Length": "3", "Upload-Concat": "partial"},
        )
        return response.headers["Location"].rsplit("/", 1)[1]
    return _unfinished(world, http)


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
@pytest.mark.parametrize("caller", OWNERS)
def test_the_owner_and_admins_are_served(world: World, http: httpx.Client, endpoint: str, caller: str) -> None:
    kind, call, success = ENDPOINTS[endpoint]
    target = _target(world, http, kind)
    if endpoint == "final naming the part" and caller.startswith("admin"):
        success = 201  # an admin may join anyone's parts

    response = call(world, http, world.credentials[caller], target)

    assert response.status_code == success, response.text


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
@pytest.mark.parametrize("caller", OTHERS)
def test_another_users_upload_answers_exactly_like_a_missing_one(
    world: World, http: httpx.Client, endpoint: str, caller: str
) -> None:
    kind, call, _ = ENDPOINTS[endpoint]
    target = _target(world, http, kind)
    owner_view = http.get(f"{world.server.base_url}/api/assets/{world.photo}", headers=world.credentials["owner"])

    theirs = call(world, http, world.credentials[caller], target)
    missing = call(world, http, world.credentials[caller], MISSING_ID)

    expected = 400 if endpoint == "final naming the part" else 404
    assert (theirs.status_code, missing.status_code) == (expected, expected)
    assert theirs.text.replace(target, MISSING_ID) == missing.text
    assert owner_view.json()["filename"] not in theirs.text
    # And the upload is untouched: the owner still sees it as it was.
    if kind == "unfinished":
        head = http.head(_files(world, target), headers={**TUS, **world.credentials["owner"]})
        assert (head.status_code, head.headers["Upload-Offset"]) == (200, "3")


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
@pytest.mark.parametrize("caller", REFUSED)
def test_missing_or_bad_credentials_answer_401_with_a_challenge(
    world: World, http: httpx.Client, endpoint: str, caller: str
) -> None:
    kind, call, _ = ENDPOINTS[endpoint]
    target = _target(world, http, kind)

    response = call(world, http, world.credentials[caller], target)

    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    if endpoint.startswith(("tus", "download", "IETF", "final")):
        assert response.headers["Tus-Resumable"] == "1.0.0"
    if response.request.method != "HEAD":
        assert len(response.text.strip().splitlines()) == 1, "one line of reason"
    assert world.photo not in response.text


@pytest.mark.parametrize("caller", REFUSED)
def test_creating_an_upload_needs_valid_credentials(world: World, http: httpx.Client, caller: str) -> None:
    before = sorted(path.name for path in (world.server.data_dir / "uploads").iterdir())

    response = http.post(world.server.files_url, headers={**TUS, **world.credentials[caller], "Upload-Length": "5"})

    assert (response.status_code, response.headers["Tus-Resumable"]) == (401, "1.0.0")
    assert sorted(path.name for path in (world.server.data_dir / "uploads").iterdir()) == before


def test_listings_show_each_user_only_their_own(world: World, http: httpx.Client) -> None:
    bob = world.credentials["other user"]
    bobs = _create(http, world.server, bob, b"bob's bytes")

    def ids(caller: str) -> set[str]:
        response = http.get(
            f"{world.server.base_url}/api/assets", params={"limit": "200"}, headers=world.credentials[caller]
        )
        assert response.status_code == 200
        return {asset["id"] for asset in response.json()["items"]}

    assert world.photo in ids("owner") and bobs not in ids("owner")
    assert bobs in ids("other user") and world.photo not in ids("other user")
    assert {world.photo, bobs} <= ids("admin")
    assert ids("owner") == ids("owner by JWT"), "a token and a JWT for the same user are the same owner"


def test_signed_links_open_one_path_for_one_principal_for_a_while(world: World, http: httpx.Client) -> None:
    asset = http.get(f"{world.server.base_url}/api/assets/{world.photo}", headers=world.credentials["owner"]).json()
    link = asset["derivatives"][world.derivative]
    other_name = next(name for name in asset["derivatives"] if name != world.derivative)

    assert http.get(link).status_code == 200, "an <img> sends no header, and needs none"
    assert http.get(asset["download_url"]).content == PHOTO
    elsewhere = link.replace(world.derivative, other_name)
    assert http.get(elsewhere).status_code == 401, "a link is good for its own path only"
    assert http.get(link.replace("subject=alice", "subject=bob")).status_code == 401
    assert http.get(link.replace("admin=0", "admin=1")).status_code == 401
    assert http.delete(asset["download_url"], headers=TUS).status_code == 401, "links are for GET and HEAD"
    assert "signature=" not in world.server.log(), "no link reaches a log line"


def test_a_link_stops_working_when_it_expires(tmp_path: Path, http: httpx.Client) -> None:
    server = start_server(tmp_path / "data", {**CHECKED, "SIGNED_URL_TTL": "1"})
    try:
        alice = bearer(make_token(server.data_dir, "alice"))
        upload_id = _create(http, server, alice, PHOTO)
        link = wait_for_asset(http, server, upload_id, headers=alice)["download_url"]
        assert http.get(link).status_code == 200
        time.sleep(2.1)
        expired = http.get(link)
    finally:
        server.stop()
    assert expired.status_code == 401
    assert "expired" in expired.text


def test_tokens_are_stored_hashed_and_listed_without_their_secret(world: World) -> None:
    token = make_token(world.server.data_dir, "dave", admin=True, expires_days=30)
    secret = token.split("_", 2)[2]

    listing = tusmedia(world.server.data_dir, "token", "list")
    database = everything_stored(world.server.data_dir)

    assert listing.returncode == 0
    assert "dave" in listing.stdout and secret not in listing.stdout
    assert secret.encode() not in database
    assert "admin" in next(line for line in listing.stdout.splitlines() if "dave" in line)


def test_capability_discovery_and_cors_preflights_need_no_token_but_the_api_does(
    world: World, http: httpx.Client
) -> None:
    options = http.options(world.server.files_url)
    preflight = http.options(
        world.server.files_url,
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
    )

    assert (options.status_code, preflight.status_code) == (200, 200)
    assert http.get(f"{world.server.base_url}/api/assets").status_code == 401


def _hs256_by_hand(claims: dict[str, object], key: bytes) -> str:
    """What an attacker would send; PyJWT itself refuses to make it."""

    def encoded(part: bytes) -> str:
        return base64.urlsafe_b64encode(part).decode().rstrip("=")

    signing_input = (
        f"{encoded(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{encoded(json.dumps(claims).encode())}"
    )
    return f"{signing_input}.{encoded(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())}"


def test_jwts_signed_with_a_public_key_pair_and_nothing_else(tmp_path: Path, http: httpx.Client) -> None:
    private_key = ec.generate_private_key(ec.SECP256R1())
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    key_file = tmp_path / "issuer.pem"
    key_file.write_text(public_pem)
    settings = {"ALLOW_ANONYMOUS": "false", "JWT_PUBLIC_KEY": str(key_file), "JWT_ISSUER": "https://id.example"}
    server = start_server(tmp_path / "data", settings)
    claims = {"sub": "erin", "iss": "https://id.example", "exp": int(time.time()) + 300}
    try:
        good = jwt.encode(claims, private_key, algorithm="ES256")
        # The classic confusion: an HS256 token "signed" with the public key as its secret.
        confused = _hs256_by_hand(claims, public_pem.encode())
        unsigned = jwt.encode(claims, None, algorithm="none")
        other_issuer = jwt.encode({**claims, "iss": "https://evil.example"}, private_key, algorithm="ES256")
        answers = {
            name: http.get(f"{server.base_url}/api/assets", headers=bearer(token)).status_code
            for name, token in {
                "good": good,
                "confused": confused,
                "unsigned": unsigned,
                "other issuer": other_issuer,
            }.items()
        }
    finally:
        server.stop()
    assert answers == {"good": 200, "confused": 401, "unsigned": 401, "other issuer": 401}


def _stream_status(http: httpx.Client, url: str, headers: dict[str, str]) -> int:
    """The status of an event stream, without waiting for its events."""
    with http.stream("GET", url, headers=headers, timeout=10) as response:
        return response.status_code


def _ready_photo(world: World, http: httpx.Client) -> str:
    upload_id = _create(http, world.server, world.credentials["owner"], PHOTO)
    wait_for_asset(http, world.server, upload_id, headers=world.credentials["owner"])
    return upload_id


# name -> (the request, given the caller's headers and a fresh target), expected status by caller group
Group = str
LIBRARY: dict[str, tuple[Callable[[World, httpx.Client, dict[str, str], str], object], dict[Group, int]]] = {
    "list assets": (
        lambda w, h, a, i: h.get(f"{w.server.base_url}/api/assets", headers=a).status_code,
        {"owner": 200, "other": 200, "admin": 200},
    ),
    "stats": (
        lambda w, h, a, i: h.get(f"{w.server.base_url}/api/stats", headers=a).status_code,
        {"owner": 200, "other": 200, "admin": 200},
    ),
    "active uploads": (
        lambda w, h, a, i: h.get(f"{w.server.base_url}/api/uploads/active", headers=a).status_code,
        {"owner": 200, "other": 200, "admin": 200},
    ),
    "me": (
        lambda w, h, a, i: h.get(f"{w.server.base_url}/api/me", headers=a).status_code,
        {"owner": 200, "other": 200, "admin": 200},
    ),
    "openapi": (
        lambda w, h, a, i: h.get(f"{w.server.base_url}/api/openapi.json", headers=a).status_code,
        {"owner": 200, "other": 200, "admin": 200},
    ),
    "reprocess one": (
        lambda w, h, a, i: h.post(f"{w.server.base_url}/api/assets/{i}/reprocess", headers=a).status_code,
        {"owner": 403, "other": 403, "admin": 202},
    ),
    "reprocess matching": (
        lambda w, h, a, i: (
            h.post(f"{w.server.base_url}/api/assets/reprocess", headers=a, json={"ids": [i]}).status_code
        ),
        {"owner": 403, "other": 403, "admin": 202},
    ),
    "delete asset": (
        lambda w, h, a, i: h.delete(f"{w.server.base_url}/api/assets/{i}", headers=a).status_code,
        {"owner": 204, "other": 404, "admin": 204},
    ),
    "event stream of the asset": (
        lambda w, h, a, i: _stream_status(h, f"{w.server.base_url}/api/events?asset={i}", a),
        {"owner": 200, "other": 404, "admin": 200},
    ),
    "event stream link": (
        lambda w, h, a, i: h.get(f"{w.server.base_url}/api/events/link", headers=a).status_code,
        {"owner": 200, "other": 200, "admin": 200},
    ),
    "webhook deliveries": (
        lambda w, h, a, i: h.get(f"{w.server.base_url}/api/webhooks/deliveries", headers=a).status_code,
        {"owner": 403, "other": 403, "admin": 200},
    ),
    "redeliver a webhook": (
        lambda w, h, a, i: (
            h.post(f"{w.server.base_url}/api/webhooks/deliveries/999999/redeliver", headers=a).status_code
        ),
        {"owner": 403, "other": 403, "admin": 404},
    ),
    "metrics": (
        lambda w, h, a, i: h.get(f"{w.server.base_url}/metrics", headers=a).status_code,
        {"owner": 403, "other": 403, "admin": 200},
    ),
}
GROUPS: dict[str, Group] = {
    **{caller: "owner" for caller in ("owner", "owner by JWT")},
    **{caller: "other" for caller in OTHERS},
    **{caller: "admin" for caller in ("admin", "admin by JWT")},
}


@pytest.mark.parametrize("endpoint", sorted(LIBRARY))
@pytest.mark.parametrize("caller", [*GROUPS, *REFUSED])
def test_every_api_endpoint_answers_each_caller_as_it_should(
    world: World, http: httpx.Client, endpoint: str, caller: str
) -> None:
    call, expected = LIBRARY[endpoint]
    target = (
        _ready_photo(world, http)
        if endpoint in ("reprocess one", "reprocess matching", "delete asset")
        else world.photo
    )

    status = call(world, http, world.credentials[caller], target)

    assert status == expected.get(GROUPS.get(caller, ""), 401)


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
@pytest.mark.parametrize("caller", [*GROUPS, *REFUSED])
def test_health_probes_answer_everyone(world: World, http: httpx.Client, path: str, caller: str) -> None:
    assert http.get(f"{world.server.base_url}{path}", headers=world.credentials[caller]).status_code == 200


def test_listings_and_stats_of_a_user_carry_nothing_of_another_user(world: World, http: httpx.Client) -> None:
    bob = world.credentials["other user"]
    owner_view = http.get(
        f"{world.server.base_url}/api/assets/{world.photo}", headers=world.credentials["owner"]
    ).json()

    bodies = [
        http.get(f"{world.server.base_url}{path}", headers=bob).text
        for path in ("/api/assets?limit=200", "/api/stats", "/api/uploads/active", "/api/me")
    ]

    for body in bodies:
        assert world.photo not in body
        assert owner_view["owner"] not in body
