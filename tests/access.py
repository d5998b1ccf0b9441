"""Real credentials for tests: tokens made with ``tusmedia token create``, JWTs signed with PyJWT."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import jwt

from tests.servers import REPO_ROOT, process_env

# Test servers that check credentials: no anonymous access, and a JWT issuer they trust.
JWT_TEST_SECRET = "a-shared-secret-for-the-test-issuer-of-32-bytes"
JWT_AUDIENCE = "tusmedia-tests"
CHECKED = {"ALLOW_ANONYMOUS": "false", "JWT_SECRET": JWT_TEST_SECRET, "JWT_AUDIENCE": JWT_AUDIENCE}


def tusmedia(
    data_dir: Path, *arguments: str, settings: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *arguments],
        cwd=REPO_ROOT,
        env=process_env(data_dir, settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


def make_token(data_dir: Path, user: str, *, admin: bool = False, expires_days: float | None = None) -> str:
    """A token from the CLI, against the server's own database: its output's last line."""
    arguments = ["token", "create", "--user", user, *(["--admin"] if admin else [])]
    if expires_days is not None:
        arguments += ["--expires", str(expires_days)]
    result = tusmedia(data_dir, *arguments)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def make_jwt(user: str, *, admin: bool = False, audience: str = JWT_AUDIENCE, expires_in: float = 300) -> str:
    claims: dict[str, object] = {"sub": user, "aud": audience, "exp": int(time.time() + expires_in)}
    if admin:
        claims["role"] = ["uploader", "admin"]
    return jwt.encode(claims, JWT_TEST_SECRET, algorithm="HS256")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
