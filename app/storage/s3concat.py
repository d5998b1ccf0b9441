"""Concatenation in the bucket (tus's concatenation extension): the final upload's object made of its
parts' objects, in order."""

from __future__ import annotations

from app.storage.s3objects import MAX_COPY_PART_BYTES, MAX_PARTS, MIN_PART_BYTES, Stored
from app.storage.s3parts import Bucket, PartWriter


async def concatenate(bucket: Bucket, final_id: str, parts: list[tuple[str, int]], part_size: int) -> int:
    """``parts`` are (upload id, size) of complete uploads. Copied inside the service (UploadPartCopy)
    when each but the last is at least S3's minimum part; otherwise streamed through a spool, since a
    short part could not be a part of its own."""
    sizes = [size for _, size in parts]
    copyable = (
        bool(parts)
        and all(MIN_PART_BYTES <= size <= MAX_COPY_PART_BYTES for size in sizes[:-1])
        and 0 < sizes[-1] <= MAX_COPY_PART_BYTES
        and len(parts) <= MAX_PARTS
    )
    if copyable:
        await _copy_in_service(bucket, final_id, [part_id for part_id, _ in parts])
    else:
        await _copy_through_spool(bucket, final_id, parts, part_size)
    return sum(sizes)


async def _copy_in_service(bucket: Bucket, final_id: str, part_ids: list[str]) -> None:
    client, key = bucket.client, bucket.keys.data(final_id)
    started = await client.create_multipart_upload(Bucket=bucket.name, Key=key)
    multipart = started["UploadId"]
    try:
        listed = []
        for number, part_id in enumerate(part_ids, start=1):
            copied = await client.upload_part_copy(
                Bucket=bucket.name,
                Key=key,
                UploadId=multipart,
                PartNumber=number,
                CopySource={"Bucket": bucket.name, "Key": bucket.keys.data(part_id)},
            )
            listed.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
        await client.complete_multipart_upload(
            Bucket=bucket.name, Key=key, UploadId=multipart, MultipartUpload={"Parts": listed}
        )
    except BaseException:
        await client.abort_multipart_upload(Bucket=bucket.name, Key=key, UploadId=multipart)
        raise


async def _copy_through_spool(bucket: Bucket, final_id: str, parts: list[tuple[str, int]], part_size: int) -> None:
    writer = PartWriter(bucket, final_id, Stored(), part_size)
    try:
        for part_id, size in parts:
            if size == 0:
                continue
            async for chunk in (await bucket.get(bucket.keys.data(part_id))).chunks:
                await writer.write(chunk)
        await writer.complete()
    except BaseException:
        if writer.multipart is not None:
            await bucket.client.abort_multipart_upload(Bucket=bucket.name, Key=writer.key, UploadId=writer.multipart)
        raise
    finally:
        writer.close()
