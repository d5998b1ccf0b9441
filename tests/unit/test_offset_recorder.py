from __future__ import annotations

import asyncio

import pytest

from app.assets.offset_recorder import OffsetRecorder

pytestmark = pytest.mark.anyio
INTERVAL = 0.2


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Written:
    def __init__(self) -> None:
        self.offsets: list[tuple[str, int]] = []

    async def __call__(self, upload_id: str, offset: int) -> None:
        self.offsets.append((upload_id, offset))


async def test_first_offset_is_written_at_once_and_a_burst_is_coalesced_to_its_last() -> None:
    written = Written()
    recorder = OffsetRecorder(written, INTERVAL)

    for offset in range(1, 101):
        await recorder.record("a", offset)
    assert written.offsets == [("a", 1)]
    await asyncio.sleep(INTERVAL * 2)

    assert written.offsets == [("a", 1), ("a", 100)]


async def test_quiet_upload_is_written_once_per_record() -> None:
    written = Written()
    recorder = OffsetRecorder(written, INTERVAL)

    await recorder.record("a", 5)
    await asyncio.sleep(INTERVAL * 2)
    await recorder.record("a", 9)

    assert written.offsets == [("a", 5), ("a", 9)]


async def test_uploads_are_independent() -> None:
    written = Written()
    recorder = OffsetRecorder(written, INTERVAL)

    await recorder.record("a", 1)
    await recorder.record("b", 2)

    assert written.offsets == [("a", 1), ("b", 2)]


async def test_forget_drops_pending_and_flush_writes_it() -> None:
    written = Written()
    recorder = OffsetRecorder(written, INTERVAL)
    await recorder.record("a", 1)
    await recorder.record("a", 2)
    await recorder.record("b", 1)
    await recorder.record("b", 7)

    recorder.forget("a")
    await recorder.flush()
    await asyncio.sleep(INTERVAL * 2)

    assert written.offsets == [("a", 1), ("b", 1), ("b", 7)]
