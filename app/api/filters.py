"""Reading an asset filter from a query string (``GET /api/assets``) or a JSON body (``POST
/api/assets/reprocess``): one parser, so both accept exactly the same names and values.

Each name may come several times or as a comma-separated list (``?status=failed&status=queued``,
``?status=failed,queued``); different names all apply (AND), values of one name any (OR).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from app.auth import Principal
from app.clock import timestamp
from app.db.listing import AssetFilter
from app.vocabulary import AssetStatus, is_valid_upload_id


class FilterError(Exception):
    """A filter that cannot be read; the API answers 400 with this reason."""


FILTER_NAMES = ("status", "owner", "type", "created_after", "created_before", "q", "filename", "error")
MAX_TEXT = 200
_MEDIA_TYPE = re.compile(r"\*|\*/\*|[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/(\*|[a-z0-9][a-z0-9!#$&^_.+-]{0,126})")


def _values(raw: Mapping[str, Sequence[str]], name: str) -> list[str]:
    return [part.strip() for value in raw.get(name, ()) for part in value.split(",") if part.strip()]


def _text(raw: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = [value for value in raw.get(name, ()) if value]
    if not values:
        return None
    if len(values) > 1:
        raise FilterError(f"{name} may be given once")
    value = values[0]
    if len(value) > MAX_TEXT or "\x00" in value:
        raise FilterError(f"{name} must be at most {MAX_TEXT} characters of text")
    return value


def _moment(raw: Mapping[str, Sequence[str]], name: str) -> str | None:
    text = _text(raw, name)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return timestamp(moment.astimezone(UTC))
    except (ValueError, OverflowError):
        raise FilterError(f"{name} must be an ISO 8601 date or time, like 2026-11-25T01:04:25Z") from None


def parse_filter(raw: Mapping[str, Sequence[str]], principal: Principal) -> AssetFilter | None:
    """The filter the request asks for, within what ``principal`` may see; None when it can match
    nothing the principal may see (a user naming another owner)."""
    statuses = []
    for value in _values(raw, "status"):
        if value not in AssetStatus.__members__.values():
            allowed = ", ".join(AssetStatus)
            raise FilterError(f"unknown status {value[:40]!r}; use one of {allowed}")
        statuses.append(AssetStatus(value))
    types = [value.lower() for value in _values(raw, "type")]
    for value in types:
        if _MEDIA_TYPE.fullmatch(value) is None:
            raise FilterError(f"type {value[:40]!r} is not a media type or a type/* pattern")
    owner = _text(raw, "owner")
    if not principal.is_admin:
        if owner is not None and owner != principal.subject:
            return None  # another user's assets: none of them are visible, so none match
        owner = principal.subject
    filenames = [text for text in (_text(raw, "q"), _text(raw, "filename")) if text is not None]
    created_after, created_before = _moment(raw, "created_after"), _moment(raw, "created_before")
    return AssetFilter(
        statuses=tuple(dict.fromkeys(statuses)),
        owner=owner,
        types=tuple(dict.fromkeys(types)),
        created_after=created_after,
        created_before=created_before,
        filenames=tuple(filenames),
        error=_text(raw, "error"),
    )


def query_filter(query: Any, principal: Principal) -> AssetFilter | None:
    """From a request's query parameters (a Starlette ``QueryParams``)."""
    return parse_filter({name: query.getlist(name) for name in FILTER_NAMES}, principal)


def body_filter(body: Any, principal: Principal) -> AssetFilter | None:
    """From a JSON object whose values are strings or lists of strings, plus ``ids``."""
    if not isinstance(body, dict):
        raise FilterError("the body must be a JSON object of filters")
    unknown = sorted(set(body) - {*FILTER_NAMES, "ids"})
    if unknown:
        raise FilterError(f"unknown filter {unknown[0][:40]!r}; use {', '.join((*FILTER_NAMES, 'ids'))}")
    raw: dict[str, list[str]] = {}
    for name, value in body.items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(item, str) for item in values):
            raise FilterError(f"{name} must be a string or a list of strings")
        raw[name] = values
    ids = raw.pop("ids", [])
    if len(ids) > 1000 or not all(is_valid_upload_id(upload_id) for upload_id in ids):
        raise FilterError("ids must be at most 1000 asset ids")
    selection = parse_filter(raw, principal)
    if selection is None:
        return None
    return dataclasses.replace(selection, ids=tuple(ids)) if ids else selection
