"""Uppy with @uppy/tus in headless Chromium, on a page from another origin than the tus server."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.interop.conftest import CHROMIUM_ARGS
from tests.interop.node_scripts import INTEROP_DIR, NODE_MODULES
from tests.interop.server_side import MIB, random_file, stored_sha256, upload_id_of
from tests.interop.static_site import serving
from tests.servers import REPO_ROOT, Server, wait_for_asset

WEB_DIR = INTEROP_DIR / "web"
SCREENSHOT = REPO_ROOT / "test-artifacts" / "uppy.png"
SIZE = 4 * MIB
BUNDLE_TIMEOUT_SECONDS = 60
BROWSER_LAUNCH_TIMEOUT_MS = 30_000
UPLOAD_TIMEOUT_MS = 60_000

ADD_AND_UPLOAD = """async ({ name, type }) => {
  const data = await (await fetch('payload.bin')).blob()
  uppy.addFile({ name, type, data })
  uppy.upload().catch(() => {})  // the outcome arrives as an upload-success or upload-error event
}"""
UPLOAD_FINISHED = "() => uppyEvents.some(({ name }) => name === 'upload-success' || name === 'upload-error')"


@pytest.fixture(scope="session")
def uppy_bundle(node: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    bundle = tmp_path_factory.mktemp("uppy-bundle") / "uppy.js"
    finished = subprocess.run(
        [
            str(NODE_MODULES / ".bin" / "esbuild"),
            str(WEB_DIR / "uppy-entry.mjs"),
            "--bundle",
            "--format=iife",
            f"--outfile={bundle}",
            "--log-level=warning",
        ],
        cwd=INTEROP_DIR,
        capture_output=True,
        text=True,
        timeout=BUNDLE_TIMEOUT_SECONDS,
    )
    assert finished.returncode == 0, finished.stderr
    return bundle


@pytest.fixture
def site(tmp_path: Path, uppy_bundle: Path) -> Path:
    directory = tmp_path / "site"
    directory.mkdir()
    shutil.copy(WEB_DIR / "index.html", directory)
    shutil.copy(uppy_bundle, directory / "uppy.js")
    return directory


@pytest.fixture
def page(chromium: Path) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=CHROMIUM_ARGS, timeout=BROWSER_LAUNCH_TIMEOUT_MS
        )
        try:
            yield browser.new_page()
        finally:
            browser.close()


def _record_browser_diagnostics(page: Page) -> list[str]:
    """What the browser says about the page and its requests: the evidence when CORS blocks a request."""
    lines: list[str] = []
    page.on("console", lambda message: lines.append(f"console {message.type}: {message.text}"))
    page.on("request", lambda request: lines.append(f"request {request.method} {request.url} {request.headers}"))
    page.on("requestfailed", lambda request: lines.append(f"failed {request.method} {request.url} {request.failure}"))
    return lines


def _upload_with_uppy(page: Page, origin: str, endpoint: str, name: str, filetype: str) -> list[dict[str, Any]]:
    page.goto(f"{origin}/index.html?endpoint={quote(endpoint)}")
    page.evaluate(ADD_AND_UPLOAD, {"name": name, "type": filetype})
    # On a time-out the events so far make the failure message, and the screenshot shows the page as it was.
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_function(UPLOAD_FINISHED, timeout=UPLOAD_TIMEOUT_MS)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOT, full_page=True)
    return page.evaluate("uppyEvents")


def test_uppy_in_chromium_uploads_cross_origin_in_1_mib_chunks_byte_identical(
    server: Server, http: httpx.Client, site: Path, page: Page
) -> None:
    digest = random_file(site / "payload.bin", SIZE)
    diagnostics = _record_browser_diagnostics(page)

    with serving(site) as origin:
        events = _upload_with_uppy(page, origin, server.files_url, "uppy-random.bin", "application/octet-stream")

    successes = [event for event in events if event["name"] == "upload-success"]
    assert len(successes) == 1, "\n".join([str(events), *diagnostics])
    upload_id = upload_id_of(successes[0]["uploadURL"])
    assert stored_sha256(server, upload_id) == digest
    patches = [line for line in diagnostics if line.startswith(f"request PATCH {server.files_url}")]
    assert len(patches) == SIZE // MIB
    asset = wait_for_asset(http, server, upload_id)
    assert (asset["status"], asset["length"], asset["filename"], asset["declared_type"]) == (
        "ready",
        SIZE,
        "uppy-random.bin",
        "application/octet-stream",
    )
