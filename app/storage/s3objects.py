"""What one upload is made of in an S3 bucket, and how to read that state back from the bucket itself.

Under the store's prefix, an upload ``<id>`` is:

- ``<id>.info``: its description (JSON, as in the filestore);
- while it is written, a multipart upload to the key ``<id>``, of equal-sized parts numbered 1..N;
- ``<id>.tail.<N>``: the bytes after those N parts, fewer than a part: S3 refuses parts under 5 MiB
  (but for the last), so a short PATCH's bytes wait here and are prepended to the next PATCH's;
- once all its bytes are in, the object ``<id>``: the multipart upload completed, or the tail copied;
- ``<id>.deleting``, for a moment: a deletion under way, which a sweep finishes if it is cut short.

The tail is named after the number of parts it follows, so a crash between uploading a part made of
an old tail and deleting that tail can never count its bytes twice: ``tail.<N-1>`` no longer follows
the N parts, and is ignored (and later swept). The offset is therefore always what the bucket holds.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from app.storage import StorageUnavailable
from app.vocabulary import UPLOAD_ID_LENGTH, is_valid_upload_id

log = logging.getLogger(__name__)

MIN_PART_BYTES = 5 * 1024 * 1024
MAX_PARTS = 10_000
MAX_COPY_PART_BYTES = 5 * 1024 * 1024 * 1024
# AWS's own page size, asked for explicitly: some S3-compatible servers answer every part at once by
# default, which would hide a client that reads only the first page.
PARTS_PER_PAGE = 1000

INFO_SUFFIX = ".info"
TAIL_SUFFIX = ".tail."
DELETING_SUFFIX = ".deleting"


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class Part:
    number: int
    size: int
    etag: str
    modified: datetime


@dataclass
class Stored:
    """One upload's bytes as found in the bucket."""

    multipart: str | None = None
    parts: list[Part] = field(default_factory=list)
    tail: StoredObject | None = None
    whole: StoredObject | None = None

    @property
    def offset(self) -> int:
        if self.whole is not None:
            return self.whole.size
        return sum(part.size for part in self.parts) + (self.tail.size if self.tail else 0)

    @property
    def modified(self) -> datetime | None:
        times = [part.modified for part in self.parts[-1:]]
        times += [found.modified for found in (self.tail, self.whole) if found is not None]
        return max(times, default=None)


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def data(self, upload_id: str) -> str:
        return self.prefix + upload_id

    def info(self, upload_id: str) -> str:
        return self.prefix + upload_id + INFO_SUFFIX

    def tail(self, upload_id: str, parts: int) -> str:
        return f"{self.prefix}{upload_id}{TAIL_SUFFIX}{parts}"

    def deleting(self, upload_id: str) -> str:
        return self.prefix + upload_id + DELETING_SUFFIX

    def split(self, key: str) -> tuple[str, str] | None:
        """``(upload id, what follows it)`` for a key of this store; None for anything else."""
        if not key.startswith(self.prefix):
            return None
        name = key[len(self.prefix) :]
        upload_id, rest = name[:UPLOAD_ID_LENGTH], name[UPLOAD_ID_LENGTH:]
        return (upload_id, rest) if is_valid_upload_id(upload_id) else None


def tail_number(rest: str) -> int | None:
    """N for ``.tail.<N>``, else None."""
    if rest.startswith(TAIL_SUFFIX) and rest[len(TAIL_SUFFIX) :].isdigit():
        return int(rest[len(TAIL_SUFFIX) :])
    return None


def utc(moment: datetime) -> datetime:
    """botocore's times carry dateutil's UTC; the rest of the code (and HTTP dates) want datetime's."""
    return moment.astimezone(UTC)


@contextmanager
def service_errors() -> Iterator[None]:
    """botocore's errors (an unreachable service, a refusal after its retries) as the storage layer's."""
    try:
        yield
    except (BotoCoreError, ClientError) as error:
        # The whole story for the log; for the client a name only, since botocore's messages carry
        # the endpoint's address and the object's key.
        log.warning("object storage request failed: %s", " ".join(str(error).split()))
        operation = getattr(error, "operation_name", None)
        code = error_code(error) or type(error).__name__
        raise StorageUnavailable(f"{code} in {operation}" if operation else code) from error


Parameters = ParamSpec("Parameters")
Result = TypeVar("Result")


def translated(
    method: Callable[Parameters, Awaitable[Result]],
) -> Callable[Parameters, Coroutine[Any, Any, Result]]:
    @functools.wraps(method)
    async def answered(*args: Parameters.args, **kwargs: Parameters.kwargs) -> Result:
        with service_errors():
            return await method(*args, **kwargs)

    return answered


def error_code(error: Exception) -> str:
    response: dict[str, Any] = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def is_missing(error: Exception) -> bool:
    return error_code(error) in ("404", "NoSuchKey", "NotFound", "NoSuchUpload")


async def head(client: Any, bucket: str, key: str) -> StoredObject | None:
    try:
        found = await client.head_object(Bucket=bucket, Key=key)
    except Exception as error:
        if is_missing(error):
            return None
        raise
    return StoredObject(key, found["ContentLength"], utc(found["LastModified"]))


async def multipart_uploads(client: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    """Every multipart upload under ``prefix`` (Key, UploadId, Initiated), all pages of them."""
    uploads: list[dict[str, Any]] = []
    markers: dict[str, str] = {}
    while True:
        page = await client.list_multipart_uploads(Bucket=bucket, Prefix=prefix, **markers)
        uploads.extend(page.get("Uploads", []))
        if not page.get("IsTruncated"):
            return uploads
        markers = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}


def oldest_first(uploads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Multipart uploads of one key, the one in use first: the oldest, should a lost race have
    started a second."""
    return sorted(uploads, key=lambda upload: upload["Initiated"])


async def find_multipart(client: Any, bucket: str, key: str) -> str | None:
    """The multipart upload in use for ``key``."""
    uploads = oldest_first([upload for upload in await multipart_uploads(client, bucket, key) if upload["Key"] == key])
    return uploads[0]["UploadId"] if uploads else None


async def list_parts(client: Any, bucket: str, key: str, multipart: str) -> list[Part]:
    """Every part, page after page: S3 answers at most 1,000 parts at a time, and reading only the
    first page is how an offset goes wrong past 1,000 parts."""
    parts: list[Part] = []
    marker = 0
    while True:
        page = await client.list_parts(
            Bucket=bucket, Key=key, UploadId=multipart, PartNumberMarker=marker, MaxParts=PARTS_PER_PAGE
        )
        parts.extend(
            Part(found["PartNumber"], found["Size"], found["ETag"], utc(found["LastModified"]))
            for found in page.get("Parts", [])
        )
        if not page.get("IsTruncated"):
            return sorted(parts, key=lambda part: part.number)
        marker = int(page["NextPartNumberMarker"])


async def list_keys(client: Any, bucket: str, prefix: str) -> list[StoredObject]:
    found: list[StoredObject] = []
    token: dict[str, str] = {}
    while True:
        page = await client.list_objects_v2(Bucket=bucket, Prefix=prefix, **token)
        found.extend(
            StoredObject(item["Key"], item["Size"], utc(item["LastModified"])) for item in page.get("Contents", [])
        )
        if not page.get("IsTruncated"):
            return found
        token = {"ContinuationToken": page["NextContinuationToken"]}
