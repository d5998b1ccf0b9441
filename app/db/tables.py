"""Table definitions used to build queries. The schema itself is created by ``migrations``."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("filename", sa.Text),
    sa.Column("declared_type", sa.Text),
    sa.Column("detected_type", sa.Text),
    sa.Column("upload_length", sa.BigInteger),
    sa.Column("upload_offset", sa.BigInteger, nullable=False),
    sa.Column("metadata", sa.Text, nullable=False),  # JSON object of the tus Upload-Metadata
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("width", sa.Integer),
    sa.Column("height", sa.Integer),
    sa.Column("duration_seconds", sa.Float),
    sa.Column("format", sa.Text),
    sa.Column("details", sa.Text),  # JSON object: what processing learned (mode, frames, EXIF, ...)
    sa.Column("derivatives", sa.Text),  # JSON list of derivative file names
    sa.Column("derivatives_attempt", sa.Integer),  # the attempt that made them
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
    sa.Column("completed_at", sa.Text),
    sa.Column("queued_at", sa.Text),
    sa.Column("processed_at", sa.Text),
    sa.Column("processing_time_ms", sa.Integer),
    sa.Column("lease_until", sa.Text),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("is_admin", sa.Integer, nullable=False),
    sa.Column("secret_hash", sa.Text, nullable=False),  # SHA-256 of the secret part, hex
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("last_used_at", sa.Text),
    sa.Column("expires_at", sa.Text),
    sa.Column("revoked_at", sa.Text),
)

asset_events = sa.Table(
    "asset_events",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),  # grows in commit order
    sa.Column("upload_id", sa.Text, nullable=False),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("event", sa.Text, nullable=False),  # history: created, received, queued, started, ...
    sa.Column("type", sa.Text),  # the webhook type (upload.created, asset.ready, ...), if it has one
    sa.Column("status", sa.Text),  # the asset's status after the event ("deleted" once deleted)
    sa.Column("detail", sa.Text),
    sa.Column("data", sa.Text),  # JSON: the asset as the event left it (the webhook payload's data)
)

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("url", sa.Text, primary_key=True),
    sa.Column("active", sa.Integer, nullable=False),  # listed in the server's WEBHOOK_URLS
    sa.Column("updated_at", sa.Text, nullable=False),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.BigInteger, nullable=False),
    sa.Column("upload_id", sa.Text, nullable=False),
    sa.Column("endpoint", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # pending, delivered, failed
    sa.Column("attempts", sa.Integer, nullable=False),  # every claim bumps it: the attempt's ticket
    sa.Column("failures", sa.Integer, nullable=False),  # since the last (re)delivery began: the backoff
    sa.Column("created_at", sa.Text, nullable=False),  # database clock; the retry window counts from it
    sa.Column("next_attempt_at", sa.Text, nullable=False),
    sa.Column("lease_until", sa.Text),
    sa.Column("last_status_code", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("delivered_at", sa.Text),
)

webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.BigInteger, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("duration_ms", sa.Integer, nullable=False),
)
