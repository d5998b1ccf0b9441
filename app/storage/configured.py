"""The upload store the settings ask for: the filestore unless S3_BUCKET names a bucket."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.storage import UploadStore
from app.storage.filestore import FileStore
from config import Settings

if TYPE_CHECKING:
    from app.storage.s3derivatives import BucketDerivatives


def upload_store(settings: Settings) -> UploadStore:
    if not settings.uses_s3:
        return FileStore(settings.upload_dir)
    # Imported only here: the embedded default never loads botocore.
    from app.storage.s3store import S3Location, S3Store, part_size_for

    location = S3Location(
        bucket=settings.s3_bucket,
        prefix=settings.s3_prefix,
        endpoint_url=settings.s3_endpoint_url or None,
        region=settings.s3_region or None,
    )
    return S3Store(location, part_size_for(settings.s3_part_size, settings.max_file_size), settings.spool_dir)


def bucket_derivatives(settings: Settings, store: UploadStore) -> BucketDerivatives | None:
    """Where derivatives go when uploads are in a bucket: beside them. None: DERIVATIVES_DIR."""
    if not settings.uses_s3:
        return None
    from app.storage.s3derivatives import BucketDerivatives
    from app.storage.s3store import S3Store

    assert isinstance(store, S3Store)
    return BucketDerivatives(store, settings.s3_derivatives_prefix)
