"""A real browser for the web page: Debian's Chromium, driven by Playwright (never a downloaded one)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.interop.conftest import CHROMIUM, CHROMIUM_ARGS, require
from tests.servers import REPO_ROOT

ARTIFACTS = REPO_ROOT / "test-artifacts"
LAUNCH_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require(os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=LAUNCH_TIMEOUT_MS)
        try:
            yield launched
        finally:
            launched.close()


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"dashboard-{name}.png"


AXE = REPO_ROOT / "tests" / "interop" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def axe_script() -> Path:
    require(AXE.is_file(), f"{AXE} is missing")
    return AXE
