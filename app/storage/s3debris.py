"""What crashes leave in the bucket, and its removal: tails no longer named after the part count,
multipart uploads of no known upload, deletions cut short."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from app.storage.s3objects import (
    DELETING_SUFFIX,
    INFO_SUFFIX,
    StoredObject,
    is_missing,
    list_keys,
    list_parts,
    multipart_uploads,
    oldest_first,
    tail_number,
    utc,
)
from app.storage.s3parts import Bucket

log = logging.getLogger(__name__)


async def remove_debris(
    bucket: Bucket, older_than_seconds: float, remove_all_of: Callable[[str], Awaitable[None]]
) -> list[str]:
    """Returns the ids of uploads whose deletion had been cut short, which are gone now."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
    objects: dict[str, dict[str, StoredObject]] = defaultdict(dict)
    for item in await list_keys(bucket.client, bucket.name, bucket.keys.prefix):
        named = bucket.keys.split(item.key)
        if named is not None:
            objects[named[0]][named[1]] = item
    uploads: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for upload in await multipart_uploads(bucket.client, bucket.name, bucket.keys.prefix):
        named = bucket.keys.split(str(upload["Key"]))
        if named is not None and named[1] == "":
            uploads[named[0]].append(upload)

    half_deleted = []
    for upload_id in sorted(set(objects) | set(uploads)):
        found = objects.get(upload_id, {})
        newest = max((item.modified for item in found.values()), default=None)
        started = [upload for upload in uploads.get(upload_id, []) if _started_before(upload, cutoff)]
        if DELETING_SUFFIX in found and found[DELETING_SUFFIX].modified <= cutoff:
            await remove_all_of(upload_id)
            half_deleted.append(upload_id)
        elif INFO_SUFFIX not in found:
            # Bytes of no upload (a lost race with a delete): nothing will ever read them.
            if (newest is None or newest <= cutoff) and (found or started):
                await remove_all_of(upload_id)
        else:
            await _remove_stale_tails(bucket, upload_id, found, uploads.get(upload_id, []), cutoff)
    return half_deleted


def _started_before(upload: dict[str, Any], cutoff: datetime) -> bool:
    initiated = upload.get("Initiated")
    return isinstance(initiated, datetime) and utc(initiated) <= cutoff


async def _remove_stale_tails(
    bucket: Bucket,
    upload_id: str,
    found: dict[str, StoredObject],
    uploads: list[dict[str, Any]],
    cutoff: datetime,
) -> None:
    tails = {number: item for rest, item in found.items() if (number := tail_number(rest)) is not None}
    if not tails and len(uploads) <= 1:
        return
    live_tail: int | None = None
    oldest = oldest_first(uploads)
    if "" not in found:  # still being written: the tail after the in-use upload's parts is live
        parts = 0
        if oldest:
            key = bucket.keys.data(upload_id)
            try:
                parts = len(await list_parts(bucket.client, bucket.name, key, str(oldest[0]["UploadId"])))
            except Exception as error:
                if not is_missing(error):
                    raise
        live_tail = parts
    for number, item in tails.items():
        if number != live_tail and item.modified <= cutoff:
            await bucket.delete(item.key)
    for extra in oldest[1:]:
        if _started_before(extra, cutoff):
            log.info("aborting a second multipart upload of %s", upload_id)
            await bucket.client.abort_multipart_upload(
                Bucket=bucket.name, Key=bucket.keys.data(upload_id), UploadId=str(extra["UploadId"])
            )
