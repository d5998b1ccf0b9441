"""The web page at ``/`` in headless Chromium against a real server: sign in, upload, watch the library."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.access import make_token
from tests.browser.conftest import screenshot_path
from tests.servers import TESTDATA_MEDIA, Server, start_server

FILES = ("hopper.jpg", "portrait_orientation_6.jpg", "truncated_jpeg.jpg")
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def dashboard_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("dashboard") / "data")
    yield running
    running.stop()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page: Page, server: Server, token: str) -> None:
    page.goto(server.base_url + "/")
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as")).to_be_visible(timeout=TIMEOUT_MS)


def test_three_files_upload_with_progress_and_the_library_shows_two_thumbnails_and_one_failure(
    dashboard_server: Server, page: Page
) -> None:
    token = make_token(dashboard_server.data_dir, "alice")
    sign_in(page, dashboard_server, token)
    expect(page.get_by_text("Signed in as alice")).to_be_visible()

    page.get_by_label("Choose files, or drop them here").set_input_files([TESTDATA_MEDIA / name for name in FILES])

    queue = page.get_by_role("list", name="Uploads")
    for name in FILES:
        row = queue.get_by_role("listitem").filter(has_text=name)
        expect(row.get_by_text("100 %")).to_be_visible(timeout=TIMEOUT_MS)
        expect(row.get_by_text("uploaded")).to_be_visible(timeout=TIMEOUT_MS)
    library = page.get_by_role("list", name="Assets")
    # Live, from the event stream: no reload.
    expect(library.locator("img")).to_have_count(2, timeout=TIMEOUT_MS)
    for name in FILES[:2]:
        card = library.get_by_role("listitem").filter(has_text=name)
        expect(card.get_by_text("ready", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
        expect(card.get_by_role("img", name=name)).to_be_visible()
    failed = library.get_by_role("listitem").filter(has_text=FILES[2])
    expect(failed.get_by_text("failed", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
    expect(failed.get_by_text("corrupt image: image file is truncated")).to_be_visible()
    assert page.evaluate("document.querySelector('#assets img').naturalWidth") > 0, "the thumbnail loaded"
    page.screenshot(path=screenshot_path("library"), full_page=True)


def test_a_wrong_token_is_refused_with_a_reason_and_nothing_else_shows(dashboard_server: Server, page: Page) -> None:
    page.goto(dashboard_server.base_url + "/")
    page.get_by_label("Access token").fill("tm_not-a-token")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_contain_text("Could not sign in", timeout=TIMEOUT_MS)
    expect(page.get_by_role("list", name="Assets")).to_be_hidden()
