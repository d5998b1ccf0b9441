"""The pre-create hook: an HTTP endpoint of the operator's that sees every would-be upload first.

It gets ``POST`` JSON ``{"user", "is_admin", "length", "metadata", "concat"}`` and answers 2xx with
a JSON object: ``{}`` (or an empty body) takes the upload as it is, ``{"metadata": {...}}`` takes it
with that metadata instead, ``{"reject": {"status": 4xx, "message": "..."}}`` refuses it with that
status and message. No answer within ``PRE_CREATE_HOOK_TIMEOUT``, another status, or an answer that
is none of these refuses the upload with 503, or takes it unchanged with
``PRE_CREATE_HOOK_FAIL_OPEN=true``.
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any

from app.tus.events import UploadRefused
from app.vocabulary import Concat
from config import Settings

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

_MESSAGE_LENGTH = 300
# A tus metadata key: no spaces or commas (the header's separators), printable ASCII.
_METADATA_KEY = re.compile(r"[!-+\--~]{1,100}")


class HookAnswerInvalid(Exception):
    pass


class PreCreateHook:
    def __init__(self, url: str, timeout_seconds: float, *, fail_open: bool, max_metadata_size: int) -> None:
        self.url = url
        self.timeout_seconds = timeout_seconds
        self.fail_open = fail_open
        self.max_metadata_size = max_metadata_size
        # One client for the process (its connection pool); made at first use, inside the event loop.
        self._client: httpx.AsyncClient | None = None

    async def check(
        self, subject: str, is_admin: bool, length: int | None, metadata: dict[str, str], concat: Concat | None
    ) -> dict[str, str]:
        """The metadata to create the upload with; raises ``UploadRefused`` when the hook says no."""
        payload = {
            "user": subject,
            "is_admin": is_admin,
            "length": length,
            "metadata": metadata,
            "concat": None if concat is None else str(concat),
        }
        import httpx  # here, not at import: a server without a hook never loads it (memory)

        try:
            response = await self._http().post(self.url, json=payload)
        except httpx.HTTPError as error:
            return self._unavailable(metadata, f"unreachable ({type(error).__name__})")
        if not 200 <= response.status_code < 300:
            return self._unavailable(metadata, f"answered {response.status_code}")
        try:
            return self._decision(response.content, metadata)
        except HookAnswerInvalid as invalid:
            return self._unavailable(metadata, f"answered something unreadable: {invalid}")

    def _http(self) -> httpx.AsyncClient:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_seconds, follow_redirects=False)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _unavailable(self, metadata: dict[str, str], why: str) -> dict[str, str]:
        if self.fail_open:
            log.warning("pre-create hook %s; taking the upload unchecked (PRE_CREATE_HOOK_FAIL_OPEN)", why)
            return metadata
        log.warning("pre-create hook %s; refusing the upload", why)
        raise UploadRefused(503, "the upload policy service is unavailable; try again later")

    def _decision(self, content: bytes, metadata: dict[str, str]) -> dict[str, str]:
        if not content.strip():
            return metadata
        try:
            answer: Any = json.loads(content)
        except (ValueError, UnicodeDecodeError):
            raise HookAnswerInvalid("not JSON") from None
        if not isinstance(answer, dict):
            raise HookAnswerInvalid("not a JSON object")
        reject = answer.get("reject")
        if reject is not None:
            raise _refusal(reject)
        amended = answer.get("metadata")
        if amended is None:
            return metadata
        return self._metadata(amended)

    def _metadata(self, amended: Any) -> dict[str, str]:
        if not isinstance(amended, dict):
            raise HookAnswerInvalid("metadata is not an object")
        for key, value in amended.items():
            if not isinstance(value, str) or _METADATA_KEY.fullmatch(key) is None:
                raise HookAnswerInvalid(f"metadata key {str(key)[:40]!r} or its value is not allowed")
        if len(json.dumps(amended)) > 2 * self.max_metadata_size:
            raise HookAnswerInvalid("metadata is too long")
        return dict(amended)


def _refusal(reject: Any) -> UploadRefused:
    if not isinstance(reject, dict):
        raise HookAnswerInvalid("reject is not an object")
    status = reject.get("status", 403)
    message = reject.get("message", "refused by the upload policy")
    # Only client errors: a hook cannot make the server look broken, nor claim success.
    if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 499:
        status = 403
    if not isinstance(message, str) or not message.strip():
        message = "refused by the upload policy"
    one_line = " ".join(message.split())[:_MESSAGE_LENGTH]
    return UploadRefused(status, one_line)


def pre_create_hook(settings: Settings) -> PreCreateHook | None:
    if not settings.pre_create_hook_url:
        return None
    return PreCreateHook(
        settings.pre_create_hook_url,
        settings.pre_create_hook_timeout_seconds,
        fail_open=settings.pre_create_hook_fail_open,
        max_metadata_size=settings.max_metadata_size,
    )
