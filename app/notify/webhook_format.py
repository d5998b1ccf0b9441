"""A webhook as Standard Webhooks has it: a JSON body with ``type``, ``timestamp`` and ``data``, and
the ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers.

The id and the body depend on the event row only, so every retry of an event sends the same id (the
receiver's idempotency key) and the same bytes; only the timestamp and signature are of the attempt.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from standardwebhooks import Webhook


def webhook_id(event: dict[str, Any]) -> str:
    # Upload ids are 128 random bits, so no other installation's event ever has this id.
    return f"evt_{event['upload_id']}_{event['id']}"


def webhook_body(event: dict[str, Any]) -> str:
    data = json.loads(event["data"] or "{}")
    data.update(event=event["event"], detail=event["detail"], event_id=event["id"])
    return json.dumps({"type": event["type"], "timestamp": event["at"], "data": data}, separators=(",", ":"))


def signed_headers(signer: Webhook, event: dict[str, Any], body: str, now: datetime) -> dict[str, str]:
    message_id = webhook_id(event)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signer.sign(message_id, now, body),
        "content-type": "application/json",
    }
