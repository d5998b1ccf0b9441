"""The checksum extension: ``Upload-Checksum: <algorithm> <base64 digest>`` of one request's body."""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from app.tus.headers import HeaderError


class _Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


class _Crc32:
    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes, /) -> None:
        self.value = zlib.crc32(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")


_ALGORITHMS: dict[str, Callable[[], _Digest]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
    "md5": hashlib.md5,
    "crc32": _Crc32,
}
ALGORITHMS = tuple(_ALGORITHMS)


@dataclass(frozen=True)
class ExpectedChecksum:
    algorithm: str
    digest: bytes

    def start(self) -> _Digest:
        return _ALGORITHMS[self.algorithm]()


class UnsupportedAlgorithm(HeaderError):
    pass


def parse_upload_checksum(value: str | None) -> ExpectedChecksum | None:
    """The expected checksum, or None without the header; HeaderError when it cannot be read.

    A digest of the wrong length for its algorithm is well-formed but can match no body, so it is
    returned as it is and the body fails its check with 460, as any other wrong digest does.
    """
    if value is None:
        return None
    algorithm, _, encoded = value.strip().partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in _ALGORITHMS:
        raise UnsupportedAlgorithm(
            f"unsupported checksum algorithm {algorithm[:20]!r}; use one of {', '.join(ALGORITHMS)}"
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if not digest:
        raise HeaderError(f"Upload-Checksum must be '{algorithm} <base64 of the {algorithm} digest>'")
    return ExpectedChecksum(algorithm, digest)


async def hashed(chunks: AsyncIterator[bytes], digest: _Digest) -> AsyncIterator[bytes]:
    """Pass ``chunks`` on unchanged, feeding each to ``digest`` on the way."""
    async for chunk in chunks:
        digest.update(chunk)
        yield chunk
