"""Where the test servers keep upload bytes: by default the filestore in their data directory; with
``TEST_STORAGE=s3``, a bucket of their own on the run's SeaweedFS, one per data directory (so a server
started again on the same directory, and the CLI or a worker beside it, finds its uploads).

The helpers here read what a server stored, whichever the store, so one protocol test checks both."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from app.storage.s3objects import is_missing
from tests.s3_service import SeaweedFS, start_seaweedfs

TEST_STORAGE = os.environ.get("TEST_STORAGE", "file").strip().lower()
PREFIX = "uploads/"

if TEST_STORAGE not in ("file", "s3"):
    raise RuntimeError(f"TEST_STORAGE must be file or s3, not {TEST_STORAGE!r}")

_service: SeaweedFS | None = None
_buckets: set[str] = set()
_lock = threading.Lock()


def on_s3() -> bool:
    return TEST_STORAGE == "s3"


def shared_seaweedfs() -> SeaweedFS:
    """The run's one SeaweedFS (it takes fixed ports), started on first use."""
    global _service
    with _lock:
        if _service is None:
            _service = start_seaweedfs()
        return _service


def stop_seaweedfs() -> None:
    global _service
    with _lock:
        if _service is not None:
            _service.stop()
            _service = None


def bucket_for(data_dir: Path) -> str:
    return "d-" + hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:40]


def storage_settings_for(data_dir: Path) -> dict[str, str]:
    """The settings that put a process on ``data_dir`` on the run's storage: none for the filestore."""
    if not on_s3():
        return {}
    service = shared_seaweedfs()
    bucket = bucket_for(data_dir)
    with _lock:
        if bucket not in _buckets:
            try:
                service.client().create_bucket(Bucket=bucket)
            except Exception as error:
                if "BucketAlready" not in type(error).__name__ + str(error):
                    raise
            _buckets.add(bucket)
    return service.settings(bucket, PREFIX)


def _client() -> Any:
    return shared_seaweedfs().client()


def _get(data_dir: Path, name: str) -> bytes | None:
    try:
        return _client().get_object(Bucket=bucket_for(data_dir), Key=PREFIX + name)["Body"].read()
    except Exception as error:
        if is_missing(error):
            return None
        raise


def stored_bytes(data_dir: Path, upload_id: str) -> bytes:
    """The upload's bytes as stored. On S3: the object once complete; before, an upload that has not
    filled a part is all in its tail. An unfinished one of several parts cannot be read back (S3 has
    no read of an open multipart upload): its parts' sizes and ETags stand for its bytes."""
    if not on_s3():
        return (data_dir / "uploads" / upload_id).read_bytes()
    whole = _get(data_dir, upload_id)
    if whole is not None:
        return whole
    client, bucket = _client(), bucket_for(data_dir)
    uploads = client.list_multipart_uploads(Bucket=bucket, Prefix=PREFIX + upload_id).get("Uploads", [])
    if not uploads:
        return _get(data_dir, f"{upload_id}.tail.0") or b""
    parts = client.list_parts(Bucket=bucket, Key=PREFIX + upload_id, UploadId=uploads[0]["UploadId"])["Parts"]
    tail = _get(data_dir, f"{upload_id}.tail.{len(parts)}") or b""
    return repr([(part["Size"], part["ETag"]) for part in parts]).encode() + tail


def stored_info(data_dir: Path, upload_id: str) -> str:
    if not on_s3():
        return (data_dir / "uploads" / f"{upload_id}.info").read_text()
    document = _get(data_dir, f"{upload_id}.info")
    if document is None:
        raise FileNotFoundError(f"no info of {upload_id} in the bucket")
    return document.decode()


def is_stored(data_dir: Path, upload_id: str) -> bool:
    """Whether anything of the upload is kept (its data file; on S3, any object of it)."""
    if not on_s3():
        return (data_dir / "uploads" / upload_id).exists()
    return any(name.startswith(upload_id) for name in stored_names(data_dir))


def stored_names(data_dir: Path) -> set[str]:
    """What the store keeps, in the filestore's names: ``<id>`` and ``<id>.info`` for each upload.
    On S3 an upload's bytes are one object, a tail or a multipart upload, or nothing yet: all say ``<id>``;
    any other key is named as it is, so debris shows."""
    if not on_s3():
        return {path.name for path in (data_dir / "uploads").iterdir()}
    client, bucket = _client(), bucket_for(data_dir)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    keys = {item["Key"].removeprefix(PREFIX) for page in pages for item in page.get("Contents", [])}
    keys |= {
        upload["Key"].removeprefix(PREFIX) for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    }
    names = set()
    for key in keys:
        upload_id, rest = key[:22], key[22:]
        if rest == ".info":
            names |= {upload_id, key}
        elif rest == "" or (rest.startswith(".tail.") and rest[6:].isdigit()):
            names.add(upload_id)
        else:
            names.add(key)
    return names


def stored_derivatives(data_dir: Path, upload_id: str) -> list[str]:
    """The asset's derivative files (the folder's on disk; on S3, the keys of its sets)."""
    if not on_s3():
        folder = data_dir / "derivatives" / upload_id
        return sorted(path.name for path in folder.iterdir()) if folder.is_dir() else []
    listed = _client().list_objects_v2(Bucket=bucket_for(data_dir), Prefix=f"derivatives/{upload_id}/")
    return sorted(item["Key"] for item in listed.get("Contents", []))
