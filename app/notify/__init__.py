"""What happened to assets, told to others: the event outbox, the live stream, the webhooks.

Every status change writes its ``asset_events`` rows (and a webhook delivery per endpoint) in the
transaction of the change (``outbox``); the stream (``stream``) and the webhook actor
(``workers/webhooks.py``) only ever read committed rows, so nothing is told that did not happen and
nothing that happened is lost.
"""
