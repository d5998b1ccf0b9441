"""An upload's description as stored beside its bytes: the same JSON in every store."""

from __future__ import annotations

import json

from app.vocabulary import Concat, UploadInfo


def encode_info(info: UploadInfo) -> bytes:
    document = {
        "id": info.id,
        "length": info.length,
        "owner": info.owner,
        "metadata": info.metadata,
        "created_at": info.created_at,
        "concat": info.concat,
        "parts": info.parts,
        "awaiting_finals": info.awaiting_finals,
    }
    return json.dumps(document).encode()


def decode_info(data: bytes | str) -> UploadInfo:
    document = json.loads(data)
    return UploadInfo(
        id=document["id"],
        length=document["length"],
        owner=document["owner"],
        metadata=document["metadata"],
        created_at=document["created_at"],
        concat=Concat(document["concat"]) if document.get("concat") else None,
        parts=tuple(document.get("parts", ())),
        awaiting_finals=tuple(document.get("awaiting_finals", ())),
    )
