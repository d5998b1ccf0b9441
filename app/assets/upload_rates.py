"""How fast each upload is arriving: a small in-memory window of (time, offset) samples per upload.

Samples come from the lifecycle (every write the protocol reports, and the creation at offset 0) and
from the status API (the stored offset whenever it looks, which is what moves during one long
PATCH). The rate is the bytes gained since the oldest sample of the last minute, over the time since
then, so an upload that stalls decays to 0 within a minute. It is per process: an upload another
server process receives shows only what this process has seen of it (see docs/api.md).
"""

from __future__ import annotations

import time
from collections import deque

WINDOW_SECONDS = 60.0
# Samples closer together than this replace each other: memory stays bounded whatever the write rate.
_MIN_SPACING_SECONDS = 0.5
_MAX_SAMPLES = int(WINDOW_SECONDS / _MIN_SPACING_SECONDS) + 2
# Uploads finished or removed by another process are never forgotten here: drop them once stale.
_STALE_SECONDS = 600.0


class UploadRates:
    def __init__(self, window_seconds: float = WINDOW_SECONDS) -> None:
        self.window_seconds = window_seconds
        self._samples: dict[str, deque[tuple[float, int]]] = {}
        self._next_sweep = 0.0

    def record(self, upload_id: str, offset: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if now >= self._next_sweep:
            self._drop_stale(now)
        samples = self._samples.setdefault(upload_id, deque(maxlen=_MAX_SAMPLES))
        if samples and samples[-1][1] == offset:
            return  # nothing arrived: the older sample says since when
        if len(samples) >= 2 and now - samples[-2][0] < _MIN_SPACING_SECONDS:
            samples.pop()
        samples.append((now, offset))
        self._prune(samples, now)

    def bytes_per_second(self, upload_id: str, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        samples = self._samples.get(upload_id)
        if not samples:
            return 0.0
        self._prune(samples, now)
        first_time, first_offset = samples[0]
        last_offset = samples[-1][1]
        elapsed = now - first_time
        if len(samples) < 2 or elapsed <= 0:
            return 0.0
        return max(0, last_offset - first_offset) / elapsed

    def forget(self, upload_id: str) -> None:
        self._samples.pop(upload_id, None)

    def _drop_stale(self, now: float) -> None:
        self._next_sweep = now + self.window_seconds
        for upload_id in [key for key, samples in self._samples.items() if now - samples[-1][0] > _STALE_SECONDS]:
            del self._samples[upload_id]

    def _prune(self, samples: deque[tuple[float, int]], now: float) -> None:
        # Keep the latest sample always: it is where the next gain is counted from.
        while len(samples) > 1 and now - samples[0][0] > self.window_seconds:
            samples.popleft()
