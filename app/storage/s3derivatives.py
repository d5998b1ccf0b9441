"""Derivatives (thumbnails, web versions) in the bucket, so servers on other machines than the worker's
can serve them.

Each processing attempt's set has keys of its own, ``<prefix><id>/<attempt>/<name>``, written before
the row's change to ``ready``; that change records the attempt (``derivatives_attempt``) and so makes
its set the current one in one step, as the folder swap does on disk. Sets of other attempts (the one
replaced, or one whose attempt was superseded or killed) are removed afterwards or by the sweep.
"""

from __future__ import annotations

import contextlib
import dataclasses
import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path

from app.storage.s3objects import is_missing, list_keys
from app.storage.s3parts import Fetched
from app.storage.s3store import S3Store
from app.vocabulary import is_valid_upload_id


@dataclass(frozen=True)
class StoredSet:
    upload_id: str
    attempt: int
    keys: tuple[str, ...]


class BucketDerivatives:
    def __init__(self, uploads: S3Store, prefix: str) -> None:
        # The upload store's client and bucket: one connection pool per process for both.
        self.uploads = uploads
        self.prefix = prefix

    def _key(self, upload_id: str, attempt: int, name: str) -> str:
        return f"{self.prefix}{upload_id}/{attempt}/{name}"

    async def publish(self, upload_id: str, attempt: int, folder: Path) -> None:
        """Send the attempt's files; they count for nothing until the row names the attempt."""
        bucket = await self.uploads.bucket()
        for name in sorted(os.listdir(folder)):
            with open(folder / name, "rb") as source:
                size = os.fstat(source.fileno()).st_size
                await bucket.client.put_object(
                    Bucket=bucket.name,
                    Key=self._key(upload_id, attempt, name),
                    Body=source,
                    ContentLength=size,
                    ContentType=_media_type(name),
                )

    async def sets(self, upload_id: str | None = None) -> list[StoredSet]:
        """The sets in the bucket: of one asset, or of all."""
        bucket = await self.uploads.bucket()
        found: dict[tuple[str, int], list[str]] = {}
        for item in await list_keys(bucket.client, bucket.name, self.prefix + (f"{upload_id}/" if upload_id else "")):
            named = item.key[len(self.prefix) :].split("/")
            if len(named) == 3 and is_valid_upload_id(named[0]) and named[1].isdigit():
                found.setdefault((named[0], int(named[1])), []).append(item.key)
        return [StoredSet(upload_id, attempt, tuple(keys)) for (upload_id, attempt), keys in sorted(found.items())]

    async def remove(self, upload_id: str, older_than_attempt: int | None = None) -> None:
        """The asset's sets: all of them, or those of attempts before ``older_than_attempt``. Never a
        later one: a reprocess may be writing it already."""
        await self.remove_sets(
            [
                found
                for found in await self.sets(upload_id)
                if older_than_attempt is None or found.attempt < older_than_attempt
            ]
        )

    async def remove_attempt(self, upload_id: str, attempt: int) -> None:
        await self.remove_sets([found for found in await self.sets(upload_id) if found.attempt == attempt])

    async def remove_sets(self, sets: list[StoredSet]) -> None:
        bucket = await self.uploads.bucket()
        for stored in sets:
            for key in stored.keys:
                with contextlib.suppress(Exception):
                    await bucket.delete(key)

    async def read(self, upload_id: str, attempt: int, name: str) -> Fetched | None:
        bucket = await self.uploads.bucket()
        try:
            found = await bucket.get(self._key(upload_id, attempt, name))
        except Exception as error:
            if is_missing(error):
                return None
            raise
        return dataclasses.replace(found, media_type=found.media_type or _media_type(name))


def _media_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"
