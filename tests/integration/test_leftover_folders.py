"""The recovery sweep removes the derivative folders that killed or superseded attempts left behind,
and never the one an attempt may still be writing. On a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from databases import Database

from app.assets.derivative_folders import asset_folder, retired_folder, scratch_folder
from app.assets.lifecycle import UploadLifecycle
from app.assets.recovery import Recovery
from app.db import jobs, queries
from app.db.migrations import migrate
from app.storage.filestore import FileStore
from app.vocabulary import UploadInfo, new_upload_id

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _nothing(upload_id: str) -> None:
    return None


async def _queued(database: Database) -> str:
    upload_id = new_upload_id()
    await queries.insert_upload(database, UploadInfo(id=upload_id, length=10, owner="alice"))
    assert await queries.mark_queued(database, upload_id, 10)
    return upload_id


def _folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "thumb_256.jpg").write_bytes(b"half written")
    return path


async def test_the_sweep_removes_what_no_live_attempt_owns_and_keeps_the_rest(
    database: Database, tmp_path: Path
) -> None:
    await migrate(database)
    derivatives = tmp_path / "derivatives"
    # Processing on its second attempt: the first was killed, the second may still be writing.
    retried = await _queued(database)
    assert (await jobs.claim(database, retried, 60))["attempts"] == 1  # type: ignore[index]
    assert await jobs.release_for_retry(database, retried, 1, "killed")
    assert (await jobs.claim(database, retried, 60))["attempts"] == 2  # type: ignore[index]
    killed = _folder(scratch_folder(derivatives, retried, 1))
    running = _folder(scratch_folder(derivatives, retried, 2))
    # Ready, with a retired set a crash left after the swap, and its current set.
    done = await _queued(database)
    current = _folder(asset_folder(derivatives, done))
    retired = _folder(retired_folder(current))
    # An attempt's folder for an asset that was deleted meanwhile.
    orphan = _folder(scratch_folder(derivatives, new_upload_id(), 1))
    # Not ours to judge: a hidden file, and a folder that only looks alike.
    (derivatives / ".notes").write_text("kept")
    lookalike = _folder(derivatives / ".not-an-id.attempt-x")

    recovery = Recovery(
        database, FileStore(tmp_path / "uploads"), UploadLifecycle(database, _nothing, derivatives, 1.0)
    )
    removed = await recovery.remove_leftover_attempts()

    assert removed == 3
    assert not killed.exists() and not retired.exists() and not orphan.exists()
    assert running.exists() and current.exists() and lookalike.exists()
    assert (derivatives / ".notes").read_text() == "kept"
    assert await recovery.remove_leftover_attempts() == 0
