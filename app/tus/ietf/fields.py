"""The draft's header fields: structured-field booleans, lengths, limits, and what a creation request
says about the file (its name and type) in plain HTTP terms."""

from __future__ import annotations

from email.message import Message

from starlette.datastructures import Headers

from app.tus.headers import (
    OFFSET_CONTENT_TYPE,
    HeaderError,
    media_type,
    parse_metadata,
    parse_non_negative,
    refuse_oversized,
)

# Media types that describe how bytes travel, not what the file is.
_TRANSFER_MEDIA_TYPES = frozenset({"application/partial-upload", OFFSET_CONTENT_TYPE, ""})


def parse_boolean(value: str | None) -> bool | None:
    """A structured-field Boolean (``?1``/``?0``, parameters ignored); None when absent or invalid,
    which the draft says must make the field count as absent."""
    if value is None:
        return None
    bare = value.split(";", 1)[0].strip()
    return {"?1": True, "?0": False}.get(bare)


def optional_non_negative(headers: Headers, name: str) -> int | None:
    """A non-negative integer field, or None when the request has none; HeaderError when malformed."""
    value = headers.get(name)
    return None if value is None else parse_non_negative(name, value)


def upload_limit(max_size: int, lifetime_key: str | None, seconds_left: int | None) -> dict[str, str]:
    """``Upload-Limit``: the size limit, and how long an unfinished upload has before it expires."""
    members = [f"max-size={max_size}"]
    if lifetime_key is not None and seconds_left is not None:
        members.append(f"{lifetime_key}={seconds_left}")
    return {"Upload-Limit": ", ".join(members)}


def file_metadata(headers: Headers, max_size: int) -> dict[str, str]:
    """What the creation request says about the file, under the keys tus metadata uses.

    The draft's clients name the file in ``Content-Disposition`` and its type in ``Content-Type``;
    tus-js-client in its IETF mode also sends ``Upload-Metadata``, which wins where both say something.
    Either header over ``max_size`` is a HeaderError: what they say is stored with the upload.
    """
    for name in ("Upload-Metadata", "Content-Disposition"):
        refuse_oversized(name, headers.get(name), max_size)
    try:
        metadata = parse_metadata(headers.get("upload-metadata"))
    except HeaderError:
        metadata = {}  # a tus extension the draft does not know; never a reason to refuse an upload
    filename = _disposition_filename(headers.get("content-disposition"))
    if filename and not ("filename" in metadata or "name" in metadata):
        metadata["filename"] = filename
    declared = media_type(headers.get("content-type"))
    if declared not in _TRANSFER_MEDIA_TYPES and not ("filetype" in metadata or "type" in metadata):
        metadata["filetype"] = declared
    return metadata


def _disposition_filename(value: str | None) -> str | None:
    if not value:
        return None
    # The email package decodes both filename="..." and RFC 5987's filename*=UTF-8''... forms.
    message = Message()
    message["content-disposition"] = value
    filename = (message.get_filename() or "").strip()
    return filename or None
