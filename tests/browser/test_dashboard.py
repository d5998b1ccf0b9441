"""The web page at ``/`` in headless Chromium against a real server: sign in, upload, watch the library."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.access import make_token
from tests.browser.conftest import screenshot_path
from tests.servers import TESTDATA_MEDIA, Server, start_server, wait_for_asset
from tests.storage_choice import stored_bytes
from tests.webhook_receiver import FAST_RETRIES, Receiver

FILES = ("hopper.jpg", "portrait_orientation_6.jpg", "truncated_jpeg.jpg")
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def dashboard_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("dashboard") / "data", {"ALLOW_ANONYMOUS": "false"})
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


# --- helpers -----------------------------------------------------------------------------------------------------

MIB = 1024 * 1024


def _random_file(directory: Path, name: str, size: int) -> Path:
    path = directory / name
    path.write_bytes(os.urandom(size))
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assets(server: Server, token: str) -> list[dict[str, object]]:
    response = httpx.get(f"{server.base_url}/api/assets?limit=200", headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    items: list[dict[str, object]] = response.json()["items"]
    return items


def _stored_sha256(server: Server, token: str, filename: str) -> str:
    [asset] = [asset for asset in _assets(server, token) if asset["filename"] == filename]
    return hashlib.sha256(stored_bytes(server.data_dir, str(asset["id"]))).hexdigest()


def _received_bytes(server: Server, admin: str) -> float:
    """Body bytes the server received, on every tus route, from its metrics."""
    text = httpx.get(f"{server.base_url}/metrics", headers={"Authorization": f"Bearer {admin}"}).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith("tusmedia_http_received_bytes_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


class CutPatches:
    """Playwright routing that fails every PATCH while ``cut`` is set, as a dropped network would."""

    def __init__(self, page: Page, server: Server) -> None:
        self.cut = False
        self.refused = 0
        page.route(f"{server.base_url}/files/**", self._handle)

    def _handle(self, route: Route) -> None:
        if self.cut and route.request.method == "PATCH":
            self.refused += 1
            route.abort("internetdisconnected")
        else:
            route.continue_()


def _queue_row(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.get_by_role("list", name="Uploads").get_by_role("listitem").filter(has_text=name)


# --- more of the scenarios ----------------------------------------------------------------------------------


def test_an_upload_whose_network_drops_mid_way_completes_when_it_returns_byte_for_byte(
    dashboard_server: Server, page: Page, tmp_path: Path
) -> None:
    token = make_token(dashboard_server.data_dir, "carol")
    source = _random_file(tmp_path, "dropped.bin", 20 * MIB)  # three PATCHes of 8 MiB, the first in the POST
    sign_in(page, dashboard_server, token)
    network = CutPatches(page, dashboard_server)
    network.cut = True

    page.get_by_label("Choose files, or drop them here").set_input_files(source)
    row = _queue_row(page, source.name)
    expect(row.get_by_text("connection lost")).to_be_visible(timeout=TIMEOUT_MS)
    page.screenshot(path=screenshot_path("uploader"), full_page=True)
    network.cut = False

    expect(row.get_by_text("uploaded")).to_be_visible(timeout=TIMEOUT_MS)
    expect(row.get_by_text("100 %")).to_be_visible()
    assert network.refused >= 1
    assert _stored_sha256(dashboard_server, token, source.name) == _sha256(source)


def test_after_a_reload_the_same_file_continues_from_the_servers_offset(
    dashboard_server: Server, page: Page, tmp_path: Path
) -> None:
    token = make_token(dashboard_server.data_dir, "dave")
    admin = make_token(dashboard_server.data_dir, "dave-admin", admin=True)
    source = _random_file(tmp_path, "reloaded.bin", 24 * MIB)
    sign_in(page, dashboard_server, token)
    network = CutPatches(page, dashboard_server)
    network.cut = True
    received_before = _received_bytes(dashboard_server, admin)

    page.get_by_label("Choose files, or drop them here").set_input_files(source)
    expect(_queue_row(page, source.name).get_by_text("connection lost")).to_be_visible(timeout=TIMEOUT_MS)
    network.cut = False
    page.reload()  # signed in again from session storage; the queue is gone, the resume entry is not
    expect(page.get_by_text("Signed in as dave")).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_label("Choose files, or drop them here").set_input_files(source)

    expect(_queue_row(page, source.name).get_by_text("uploaded")).to_be_visible(timeout=TIMEOUT_MS)
    assert _stored_sha256(dashboard_server, token, source.name) == _sha256(source)
    received = _received_bytes(dashboard_server, admin) - received_before
    assert source.stat().st_size <= received < 1.5 * source.stat().st_size, received
    assert len([asset for asset in _assets(dashboard_server, token) if asset["filename"] == source.name]) == 1


def test_an_upload_begun_in_another_browser_is_offered_to_continue_and_finishes(
    dashboard_server: Server, browser: Browser, tmp_path: Path
) -> None:
    token = make_token(dashboard_server.data_dir, "erin")
    source = _random_file(tmp_path, "elsewhere.bin", 20 * MIB)
    first = browser.new_context()
    try:
        page = first.new_page()
        sign_in(page, dashboard_server, token)
        network = CutPatches(page, dashboard_server)
        network.cut = True
        page.get_by_label("Choose files, or drop them here").set_input_files(source)
        expect(_queue_row(page, source.name).get_by_text("connection lost")).to_be_visible(timeout=TIMEOUT_MS)
    finally:
        first.close()

    second = browser.new_context()  # another browser: nothing of the first in its storage
    try:
        page = second.new_page()
        sign_in(page, dashboard_server, token)
        unfinished = page.get_by_role("list", name="Unfinished uploads")
        expect(unfinished.get_by_text(f"{source.name}: 40 % (8.0 MiB of 20.0 MiB)")).to_be_visible(timeout=TIMEOUT_MS)
        page.get_by_label(f"Continue {source.name}: pick the file again").set_input_files(source)
        expect(_queue_row(page, source.name).get_by_text("uploaded")).to_be_visible(timeout=TIMEOUT_MS)
    finally:
        second.close()
    assert _stored_sha256(dashboard_server, token, source.name) == _sha256(source)


def test_a_second_user_never_sees_the_first_users_assets_thumbnails_or_events(
    dashboard_server: Server, browser: Browser
) -> None:
    frank, grace = (make_token(dashboard_server.data_dir, user) for user in ("frank", "grace"))
    frank_context, grace_context = browser.new_context(), browser.new_context()
    try:
        frank_page, grace_page = frank_context.new_page(), grace_context.new_page()
        sign_in(frank_page, dashboard_server, frank)
        sign_in(grace_page, dashboard_server, grace)
        seen: list[str] = []
        grace_page.on("request", lambda request: seen.append(request.url))

        frank_page.get_by_label("Choose files, or drop them here").set_input_files(TESTDATA_MEDIA / "hopper.jpg")
        frank_library = frank_page.get_by_role("list", name="Assets")
        expect(frank_library.get_by_text("ready", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
        [asset] = _assets(dashboard_server, frank)
        time.sleep(1.5)  # three of the stream's polls: an event for grace would have arrived

        expect(grace_page.get_by_role("list", name="Assets").get_by_role("listitem")).to_have_count(0)
        expect(grace_page.get_by_text("0 assets")).to_be_visible()
        assert not [url for url in seen if str(asset["id"]) in url], "grace's page never asked for frank's asset"
    finally:
        frank_context.close()
        grace_context.close()


def test_an_admin_reprocesses_a_failed_asset_after_its_cause_is_fixed_and_sees_its_badge_change(
    browser: Browser, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    # The cause: a time limit too short for this file's processing.
    strict = start_server(
        data_dir, {"ALLOW_ANONYMOUS": "false", "MEDIA_PROCESSING_DELAY": "3", "MEDIA_JOB_TIME_LIMIT": "1"}
    )
    try:
        owner = make_token(data_dir, "heidi")
        response = httpx.post(
            f"{strict.base_url}/files/",
            content=(TESTDATA_MEDIA / "hopper.png").read_bytes(),
            headers={
                "Authorization": f"Bearer {owner}",
                "Tus-Resumable": "1.0.0",
                "Upload-Length": str((TESTDATA_MEDIA / "hopper.png").stat().st_size),
                "Upload-Metadata": "filename aG9wcGVyLnBuZw==",
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert response.status_code == 201, response.text
        upload_id = response.headers["Location"].rsplit("/", 1)[1]
        with httpx.Client() as client:
            failed = wait_for_asset(client, strict, upload_id, headers={"Authorization": f"Bearer {owner}"})
        assert (failed["status"], failed["error"]) == ("failed", "timed out after 1 s")
    finally:
        strict.stop()

    fixed = start_server(data_dir, {"ALLOW_ANONYMOUS": "false"})  # the fix: the default time limit
    context = browser.new_context()
    try:
        page = context.new_page()
        sign_in(page, fixed, make_token(data_dir, "ivan", admin=True))
        admin = page.get_by_role("region", name="Administration")
        failures = admin.get_by_role("list", name="Most frequent failures")
        expect(failures).to_contain_text("timed out after 1 s", timeout=TIMEOUT_MS)
        card = page.get_by_role("list", name="Assets").get_by_role("listitem").filter(has_text="hopper.png")
        expect(card.get_by_text("failed", exact=True)).to_be_visible()
        expect(card.get_by_text("heidi")).to_be_visible()  # an admin sees whose it is
        page.screenshot(path=screenshot_path("admin"), full_page=True)

        card.get_by_role("button", name="Details of hopper.png, failed").click()
        page.get_by_role("dialog").get_by_role("button", name="Reprocess").click()

        expect(card.get_by_text("ready", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
        expect(page.get_by_role("dialog").get_by_text("reprocess requested by ivan")).to_be_visible()
    finally:
        context.close()
        fixed.stop()


def _serious_violations(page: Page, axe: Path) -> list[str]:
    page.add_script_tag(path=str(axe))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']}"
        for violation in result["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_violations_on_the_signed_in_page_and_the_detail_panel(
    dashboard_server: Server, browser: Browser, axe_script: Path, scheme: str
) -> None:
    token = make_token(dashboard_server.data_dir, f"judy-{scheme}")
    # axe is injected by the test only; the page's own policy would (rightly) refuse an inline script.
    context = browser.new_context(bypass_csp=True, color_scheme=scheme)  # type: ignore[arg-type]
    try:
        page = context.new_page()
        sign_in(page, dashboard_server, token)
        page.get_by_label("Choose files, or drop them here").set_input_files(
            [TESTDATA_MEDIA / "hopper.jpg", TESTDATA_MEDIA / "truncated_jpeg.jpg"]
        )
        library = page.get_by_role("list", name="Assets")
        expect(library.get_by_text("ready", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
        expect(library.get_by_text("failed", exact=True)).to_be_visible(timeout=TIMEOUT_MS)
        assert _serious_violations(page, axe_script) == []

        library.get_by_role("button", name="Details of hopper.jpg, ready").click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_text("Dimensions")).to_be_visible()
        expect(dialog.get_by_role("link", name="Download the original")).to_be_visible()
        assert _serious_violations(page, axe_script) == []
        page.screenshot(path=screenshot_path(f"detail-{scheme}"), full_page=True)
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
    finally:
        context.close()


def test_the_page_fits_a_phone_screen_of_360_px(dashboard_server: Server, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        sign_in(page, dashboard_server, make_token(dashboard_server.data_dir, "kim"))
        page.get_by_label("Choose files, or drop them here").set_input_files(TESTDATA_MEDIA / "hopper.jpg")
        expect(page.get_by_role("list", name="Assets").get_by_text("ready", exact=True)).to_be_visible(
            timeout=TIMEOUT_MS
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, "nothing wider than the screen"
        page.screenshot(path=screenshot_path("phone"), full_page=True)
    finally:
        context.close()


def _small_pngs(directory: Path, count: int) -> list[Path]:
    from PIL import Image

    paths = []
    for index in range(count):
        path = directory / f"small-{index:03d}.png"
        Image.new("RGB", (16, 16), (index % 256, (index * 7) % 256, 90)).save(path)
        paths.append(path)
    return paths


# Input delay: how long after the click the page's own code got to it.
_MEASURE_CLICKS = """() => {
  window.clickDelays = [];
  document.addEventListener('click', (event) => window.clickDelays.push(performance.now() - event.timeStamp), true);
}"""


def test_two_hundred_files_queued_at_once_all_become_ready_and_clicks_are_answered_within_200_ms(
    browser: Browser, tmp_path: Path
) -> None:
    server = start_server(tmp_path / "data", {"ALLOW_ANONYMOUS": "false"})
    context = browser.new_context()
    try:
        token = make_token(server.data_dir, "leo")
        page = context.new_page()
        sign_in(page, server, token)
        page.evaluate(_MEASURE_CLICKS)
        files = _small_pngs(tmp_path, 200)

        page.get_by_label("Choose files, or drop them here").set_input_files(files)
        deadline = time.monotonic() + 180
        clicks = 0
        ready = 0
        while time.monotonic() < deadline:
            page.mouse.click(5, 5)  # on the page's margin: nothing to do but answer
            clicks += 1
            response = httpx.get(
                f"{server.base_url}/api/assets?status=ready&limit=1", headers={"Authorization": f"Bearer {token}"}
            )
            ready = response.json()["total"]
            if ready == len(files):
                break
            page.wait_for_timeout(200)
        delays = page.evaluate("window.clickDelays")
    finally:
        context.close()
        server.stop()

    assert ready == len(files)
    assert len(delays) == clicks >= 5
    assert max(delays) < 200, sorted(delays)[-5:]


def test_pause_resume_cancel_delete_and_sign_out_do_what_they_say(
    dashboard_server: Server, page: Page, tmp_path: Path
) -> None:
    token = make_token(dashboard_server.data_dir, "mallory")
    paused_file = _random_file(tmp_path, "paused.bin", 20 * MIB)
    cancelled_file = _random_file(tmp_path, "cancelled.bin", 20 * MIB)
    sign_in(page, dashboard_server, token)
    network = CutPatches(page, dashboard_server)
    network.cut = True  # each file stops after its first chunk, to be paused or cancelled there

    chooser = page.get_by_label("Choose files, or drop them here")
    chooser.set_input_files([paused_file, cancelled_file])
    for source in (paused_file, cancelled_file):
        expect(_queue_row(page, source.name).get_by_text("connection lost")).to_be_visible(timeout=TIMEOUT_MS)
    page.get_by_role("button", name=f"Pause {paused_file.name}").click()
    expect(_queue_row(page, paused_file.name).get_by_text("paused", exact=True)).to_be_visible()
    page.get_by_role("button", name=f"Cancel {cancelled_file.name}").click()
    expect(_queue_row(page, cancelled_file.name)).to_have_count(0)
    network.cut = False
    page.get_by_role("button", name=f"Resume {paused_file.name}").click()
    expect(_queue_row(page, paused_file.name).get_by_text("uploaded")).to_be_visible(timeout=TIMEOUT_MS)

    names = [asset["filename"] for asset in _assets(dashboard_server, token)]
    assert names == [paused_file.name], "the cancelled upload was deleted on the server"
    assert _stored_sha256(dashboard_server, token, paused_file.name) == _sha256(paused_file)

    card = page.get_by_role("list", name="Assets").get_by_role("listitem").filter(has_text=paused_file.name)
    card.get_by_role("button", name=f"Details of {paused_file.name}").click()
    page.once("dialog", lambda confirm: confirm.accept())
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(card).to_have_count(0, timeout=TIMEOUT_MS)
    assert _assets(dashboard_server, token) == []

    # A remembered unfinished upload, then sign-out: nothing of this user is left in the browser.
    network.cut = True
    chooser.set_input_files(cancelled_file)
    expect(_queue_row(page, cancelled_file.name).get_by_text("connection lost")).to_be_visible(timeout=TIMEOUT_MS)
    assert page.evaluate("localStorage.getItem('tusmedia.resume.mallory')") is not None
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Access token")).to_be_visible(timeout=TIMEOUT_MS)
    assert page.evaluate("localStorage.getItem('tusmedia.resume.mallory')") is None
    assert page.evaluate("sessionStorage.getItem('tusmedia.token')") is None


def test_an_admin_sees_a_failed_webhook_delivery_with_its_attempts_and_redelivers_it(
    browser: Browser, tmp_path: Path
) -> None:
    receiver = Receiver(failures=10_000)  # refuses everything until the test lets it accept
    receiver.start()
    settings = {**FAST_RETRIES, "ALLOW_ANONYMOUS": "false", "WEBHOOK_URLS": receiver.url, "WEBHOOK_MAX_AGE": "2"}
    server = start_server(tmp_path / "data", settings)
    context = browser.new_context()
    try:
        owner = make_token(server.data_dir, "nina")
        created = httpx.post(
            server.files_url,
            headers={"Authorization": f"Bearer {owner}", "Tus-Resumable": "1.0.0", "Upload-Length": "10"},
        )
        assert created.status_code == 201, created.text
        upload_id = created.headers["Location"].rsplit("/", 1)[1]
        page = context.new_page()
        sign_in(page, server, make_token(server.data_dir, "oscar", admin=True))
        deliveries = page.get_by_role("list", name="Webhook deliveries")
        failed = deliveries.get_by_role("listitem").filter(has_text=f"upload.created for {upload_id}")
        deadline = time.monotonic() + 30
        while "failed" not in (failed.text_content() if failed.count() else "") and time.monotonic() < deadline:
            page.get_by_role("button", name="Refresh").click()
            page.wait_for_timeout(500)
        expect(failed).to_contain_text("failed, ")
        expect(failed).to_contain_text("last: HTTP 500")
        failed.get_by_text("Attempts").click()
        expect(failed.get_by_role("listitem").first).to_contain_text("HTTP 500")

        receiver.failures = 0
        failed.get_by_role("button", name=f"Redeliver upload.created for {upload_id}").click()
        deadline = time.monotonic() + 30
        while "delivered" not in (failed.text_content() or "") and time.monotonic() < deadline:
            page.wait_for_timeout(500)
            page.get_by_role("button", name="Refresh").click()
        expect(failed).to_contain_text("delivered, ")
        expect(failed).to_contain_text("last: HTTP 200")
    finally:
        context.close()
        server.stop()
        receiver.stop()
    assert receiver.accepted_ids(), "the receiver took the redelivery"
