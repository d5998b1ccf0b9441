"""Upload ids: the shape every layer checks, and one that is safe on a command line."""

from __future__ import annotations

from app.vocabulary import is_valid_upload_id, new_upload_id


def test_new_upload_ids_are_valid_distinct_and_never_read_as_a_command_line_option() -> None:
    # One random id in 64 used to begin with "-", which `tusmedia reprocess ID` took for an option.
    ids = [new_upload_id() for _ in range(5000)]

    assert len(set(ids)) == len(ids)
    assert all(is_valid_upload_id(upload_id) for upload_id in ids)
    assert not [upload_id for upload_id in ids if upload_id.startswith("-")]


def test_ids_made_before_that_rule_stay_valid() -> None:
    assert is_valid_upload_id("-a_3KwULHrdcIs1lFdtzcg")
