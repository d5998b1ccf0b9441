from __future__ import annotations

import pytest

from app.tus.headers import HeaderError, format_metadata, parse_metadata, parse_non_negative


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, {}),
        ("", {}),
        ("   ", {}),
        ("filename d29ybGQucG5n", {"filename": "world.png"}),
        ("filename d29ybGQucG5n,is_confidential", {"filename": "world.png", "is_confidential": ""}),
        ("a YQ==, b Yg==", {"a": "a", "b": "b"}),
        ("empty ", {"empty": ""}),
    ],
)
def test_parse_metadata_accepts_spec_forms(header: str | None, expected: dict[str, str]) -> None:
    assert parse_metadata(header) == expected


@pytest.mark.parametrize("header", ["a !!!", "a YQ", "a YQ== extra", "a YQ==,a Yg==", ",a YQ==", "a YQ==,", "a  YQ=="])
def test_parse_metadata_refuses_malformed_headers(header: str) -> None:
    with pytest.raises(HeaderError):
        parse_metadata(header)


def test_metadata_round_trips_through_format_and_parse() -> None:
    metadata = {"filename": "été 2026.jpg", "flag": ""}

    assert parse_metadata(format_metadata(metadata)) == metadata


@pytest.mark.parametrize(
    ("value", "expected"), [("0", 0), ("42", 42), (" 7 ", 7), ("\t7", 7), ("9" * 19, int("9" * 19)), ("0" * 19, 0)]
)
def test_parse_non_negative_accepts_up_to_19_ascii_digits(value: str, expected: int) -> None:
    assert parse_non_negative("Upload-Length", value) == expected


# "²" and "١٢" pass str.isdigit(); the fullwidth one even passes int(). Starlette decodes header values
# as latin-1, so "\xa0" (a no-break space) is what a UTF-8 client's stray U+00A0 byte becomes.
NOT_NUMBERS = [None, "", "-1", "+1", "1.0", "1e3", "0x10", "1 2", "١٢", "²", "٣", "\uff11", "5\xa0", "\xa05"]


@pytest.mark.parametrize("value", NOT_NUMBERS)
def test_parse_non_negative_refuses_everything_else(value: str | None) -> None:
    with pytest.raises(HeaderError, match="Upload-Length"):
        parse_non_negative("Upload-Length", value)


@pytest.mark.parametrize("digits", [20, 4301, 100_000])
def test_parse_non_negative_refuses_more_than_19_digits_in_one_short_line(digits: int) -> None:
    # 4301 digits is where int() itself raises ValueError (Python's limit on str to int conversion).
    with pytest.raises(HeaderError, match="Upload-Length") as refused:
        parse_non_negative("Upload-Length", "1" * digits)

    assert "\n" not in str(refused.value)
    assert len(str(refused.value)) < 200
