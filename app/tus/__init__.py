"""The tus 1.0 protocol and nothing else: routes, header parsing, errors and locks.

It stores bytes through ``app.storage`` and reports what happened to an ``UploadEvents`` object; it
knows nothing of the database, the broker or media processing.
"""
