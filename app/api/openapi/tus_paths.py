"""The tus endpoints, as OpenAPI paths: the headers they take and give, and their refusals."""

from __future__ import annotations

from app.api.openapi.building import Schema, _empty, _header, _request_header, _text

TUS_RESUMABLE = _request_header(
    "Tus-Resumable", "The protocol version", required=True, schema={"type": "string", "enum": ["1.0.0"]}
)
TUS_REFUSALS: Schema = {
    "400": _text("A header that cannot be read; the body says which"),
    "401": _text("No credentials, or credentials that are not good"),
    "404": _text("No such upload, or not yours"),
    "412": _text("An unsupported Tus-Resumable", {"Tus-Version": _header("The versions served")}),
    "423": _text("Another request holds the upload for longer than LOCK_WAIT"),
    "503": _text("The shared lock service does not answer, or the server is stopping"),
}
TUS_HEADERS: Schema = {"Tus-Resumable": _header("1.0.0")}


def _tus_paths(base: str) -> Schema:
    collection = base
    resource = base + "{upload_id}"
    upload_id = {"name": "upload_id", "in": "path", "required": True, "schema": {"type": "string"}}
    offset_headers = {
        **TUS_HEADERS,
        "Upload-Offset": _header("Bytes stored"),
        "Upload-Expires": _header("RFC 9110 date"),
    }
    capabilities = {
        "summary": "tus capabilities (no credentials needed)",
        "security": [],
        "responses": {
            "200": _empty(
                "What the server supports",
                {
                    "Tus-Version": _header("1.0.0"),
                    "Tus-Extension": _header("creation, creation-with-upload, ..."),
                    "Tus-Max-Size": _header("MAX_FILE_SIZE"),
                },
            ),
        },
    }
    return {
        collection: {
            "options": capabilities,
            "post": {
                "summary": "Create an upload (creation, creation-with-upload, creation-defer-length, concatenation)",
                "parameters": [
                    TUS_RESUMABLE,
                    _request_header("Upload-Length", "The upload's size in bytes (ASCII digits)"),
                    _request_header("Upload-Defer-Length", "1: the length comes later"),
                    _request_header("Upload-Metadata", "key base64,key2 base64 (filename, filetype)"),
                    _request_header("Upload-Concat", "partial, or final;<upload URLs>"),
                    _request_header("Upload-Checksum", "<algorithm> <base64 digest> of the body"),
                ],
                "requestBody": {
                    "required": False,
                    "content": {"application/offset+octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                },
                "responses": {
                    "201": _empty(
                        "Created",
                        {
                            **TUS_HEADERS,
                            "Location": _header("The upload's URL"),
                            "Upload-Offset": _header("Bytes stored"),
                        },
                    ),
                    **TUS_REFUSALS,
                    "403": _text("Refused by the pre-create hook, or a final upload of parts that are not yours"),
                    "409": _text("A final upload whose parts cannot be joined"),
                    "410": _text("A final upload with an expired part"),
                    "413": _text("Longer than MAX_FILE_SIZE, or past the user's storage quota"),
                    "415": _text("A body without Content-Type: application/offset+octet-stream"),
                    "429": _text("Too many unfinished uploads (USER_MAX_UNFINISHED)"),
                    "460": _text("The body does not match Upload-Checksum"),
                    "507": _text("The server's disk is full"),
                },
            },
        },
        resource: {
            "parameters": [upload_id],
            "options": capabilities,
            "head": {
                "summary": "The upload's offset (and length, metadata, expiry)",
                "parameters": [TUS_RESUMABLE],
                "responses": {
                    "200": _empty("Where it stands", offset_headers),
                    **TUS_REFUSALS,
                    "410": _empty("Expired"),
                },
            },
            "patch": {
                "summary": "Append bytes at Upload-Offset",
                "parameters": [
                    TUS_RESUMABLE,
                    _request_header("Upload-Offset", "Where the body goes (ASCII digits)", required=True),
                    _request_header("Upload-Checksum", "<algorithm> <base64 digest> of the body"),
                    _request_header("Upload-Length", "For a deferred upload"),
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/offset+octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                },
                "responses": {
                    "204": _empty("Stored", offset_headers),
                    **TUS_REFUSALS,
                    "403": _text("A final upload takes no appends"),
                    "409": _text("Upload-Offset does not match", {"Upload-Offset": _header("The upload's offset")}),
                    "410": _text("Expired"),
                    "413": _text("The body passes Upload-Length"),
                    "415": _text("Not Content-Type: application/offset+octet-stream"),
                    "460": _text("The body does not match Upload-Checksum"),
                    "507": _text("The server's disk is full"),
                },
            },
            "delete": {
                "summary": "Remove the upload: bytes, row and derivatives (termination)",
                "parameters": [TUS_RESUMABLE],
                "responses": {"204": _empty("Removed", TUS_HEADERS), **TUS_REFUSALS},
            },
            "get": {
                "summary": "Download the bytes of a finished upload (one Range allowed)",
                "parameters": [_request_header("Range", "bytes=first-last")],
                "responses": {
                    "200": {
                        "description": "The bytes",
                        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    "206": {
                        "description": "The range",
                        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    **{code: response for code, response in TUS_REFUSALS.items() if code != "412"},
                    "409": _text("Not finished yet, or a partial upload"),
                    "416": _text("Unsatisfiable range"),
                },
            },
        },
    }
