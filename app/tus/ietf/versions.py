"""The interop versions of draft-ietf-httpbis-resumable-upload this server speaks, and what sets them apart.

Every draft revision that broke existing clients raised the interop version, which clients send in
``Upload-Draft-Interop-Version``. What each one changed, as far as a server is concerned:

======= ============ ===========================================================================
interop drafts       what is new
======= ============ ===========================================================================
3       -01          completeness is ``Upload-Incomplete`` (iOS 17 and macOS 14 ship this one)
4       -02          ``Upload-Complete`` replaces it, with the opposite meaning
5       -03          offset retrieval may answer 200 as well as 204; progress in 104 responses
6       -04, -05     appends must be ``application/partial-upload``; ``Upload-Limit`` (with an
                     ``expires`` key); problem types for a mismatched offset and a completed upload;
                     ``Upload-Length`` on creation (-05)
7       -06 to -08   the ``expires`` limit is renamed ``max-age``; append responses must carry
                     ``Upload-Complete``; a problem type for inconsistent lengths
8       -09 to -11   limits must be announced; DELETE need not answer 204; the 104 section
======= ============ ===========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import Headers

from app.tus.ietf.fields import parse_boolean

INTEROP_VERSION_HEADER = "Upload-Draft-Interop-Version"
PARTIAL_UPLOAD_MEDIA_TYPE = "application/partial-upload"
PROBLEM_TYPE_BASE = "https://iana.org/assignments/http-problem-types#"

MISMATCHING_OFFSET = "mismatching-upload-offset"
COMPLETED_UPLOAD = "completed-upload"
INCONSISTENT_LENGTH = "inconsistent-upload-length"


@dataclass(frozen=True)
class InteropVersion:
    number: int
    # Interop 3 says "Upload-Incomplete: ?1" where later versions say "Upload-Complete: ?0".
    says_incomplete: bool
    requires_partial_upload_media_type: bool
    # The Upload-Limit key for the time an upload has left; None where Upload-Limit is not defined.
    lifetime_limit_key: str | None
    problem_types: frozenset[str]

    @property
    def completeness_header(self) -> str:
        return "Upload-Incomplete" if self.says_incomplete else "Upload-Complete"

    @property
    def has_upload_limit(self) -> bool:
        return self.lifetime_limit_key is not None

    def says_complete(self, headers: Headers) -> bool:
        """Whether the request ends the upload. Without a valid completeness field it does not:
        the upload stays open, and an empty request that says so can still finish it."""
        value = parse_boolean(headers.get(self.completeness_header))
        if value is None:
            return False
        return not value if self.says_incomplete else value

    def completeness(self, complete: bool) -> dict[str, str]:
        flag = complete != self.says_incomplete
        return {self.completeness_header: "?1" if flag else "?0"}

    def problem_type(self, name: str) -> str | None:
        """The problem type URI, if this version defines the problem; otherwise a plain-text refusal."""
        return PROBLEM_TYPE_BASE + name if name in self.problem_types else None


_EARLY = frozenset[str]()
_FIRST_PROBLEMS = frozenset({MISMATCHING_OFFSET, COMPLETED_UPLOAD})
_ALL_PROBLEMS = _FIRST_PROBLEMS | {INCONSISTENT_LENGTH}

SUPPORTED_VERSIONS: dict[str, InteropVersion] = {
    str(version.number): version
    for version in (
        InteropVersion(3, True, False, None, _EARLY),
        InteropVersion(4, False, False, None, _EARLY),
        InteropVersion(5, False, False, None, _EARLY),
        InteropVersion(6, False, True, "expires", _FIRST_PROBLEMS),
        InteropVersion(7, False, True, "max-age", _ALL_PROBLEMS),
        InteropVersion(8, False, True, "max-age", _ALL_PROBLEMS),
    )
}


def requested_version(headers: Headers) -> InteropVersion | None:
    """The interop version the request names, or None for one this server does not speak."""
    return SUPPORTED_VERSIONS.get(headers.get(INTEROP_VERSION_HEADER, "").strip())
