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
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
    sa.Column("completed_at", sa.Text),
    sa.Column("queued_at", sa.Text),
    sa.Column("processed_at", sa.Text),
    sa.Column("processing_time_ms", sa.Integer),
    sa.Column("lease_until", sa.Text),
)

asset_events = sa.Table(
    "asset_events",
    metadata,
    sa.Column("upload_id", sa.Text, nullable=False),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("detail", sa.Text),
)
