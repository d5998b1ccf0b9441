"""Resumable Uploads for HTTP (draft-ietf-httpbis-resumable-upload), the IETF successor of tus that
URLSession speaks on iOS 17+ and macOS 14+, served on the same uploads, locks and events as tus."""

from app.tus.ietf.dispatch import is_draft_request, serve_collection, serve_upload

__all__ = ["is_draft_request", "serve_collection", "serve_upload"]
