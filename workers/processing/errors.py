"""Why processing a file did not succeed::

    ProcessingError
    ├── PermanentProcessingError   the file itself is the problem (corrupt, unsupported, a bomb):
    │                              retrying cannot help, the asset ends ``failed`` at once
    └── TransientProcessingError   the surroundings failed (disk, database): worth retrying

Every message is one line, fit to show a user as the reason an asset failed.
"""

from __future__ import annotations


class ProcessingError(Exception):
    pass


class PermanentProcessingError(ProcessingError):
    pass


class TransientProcessingError(ProcessingError):
    pass
