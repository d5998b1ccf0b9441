"""tusmedia: a tus 1.0 resumable upload server with a media pipeline."""
