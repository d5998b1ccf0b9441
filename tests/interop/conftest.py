"""What the interop tests need besides the server: Node with the pinned packages, and Debian's Chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.interop.node_scripts import NODE_MODULES

CHROMIUM = Path("/usr/bin/chromium")
# As the machine's notes say to start Debian's Chromium here: without the networking flags it keeps
# trying (and failing) to reach Google's hosts.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = "run scripts/install-test-deps"


def require(present: bool, missing: str) -> None:
    """Skip on a laptop that lacks a tool; fail on CI, where every test must run."""
    if present:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{missing} ({INSTALL_HINT}), and CI must run every test")
    pytest.skip(f"{missing} ({INSTALL_HINT})")


@pytest.fixture(scope="session")
def node() -> str:
    executable = shutil.which("node")
    require(executable is not None, "node is not on PATH")
    require((NODE_MODULES / "tus-js-client").is_dir(), f"{NODE_MODULES} lacks the pinned packages")
    assert executable is not None
    return executable


@pytest.fixture(scope="session")
def chromium() -> Path:
    require(os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is not installed")
    return CHROMIUM
