"""lambdas.shared.payloads: the object envelope, strict typing, and every problem named at once."""
from __future__ import annotations

import pytest

from lambdas.shared.payloads import ObjectRef, parse_payload


class Rejected(Exception):
    pass


def test_the_envelope_normalises_etag_and_version_and_ignores_other_fields():
    ref = parse_payload({"bucket": "b", "key": "incoming/a b.png", "etag": '"abc"', "version_id": "",
                         "probabilities": {"x": 1}}, ObjectRef, Rejected, "event")
    assert (ref.bucket, ref.key, ref.etag, ref.version_id) == ("b", "incoming/a b.png", "abc", None)
    assert parse_payload({"bucket": "b", "key": "k"}, ObjectRef, Rejected, "event").etag is None


def test_every_problem_is_named_with_its_path_and_value():
    with pytest.raises(Rejected) as caught:
        parse_payload({"bucket": " ", "key": 7, "etag": True}, ObjectRef, Rejected, "event")
    message = str(caught.value)
    assert message.startswith("invalid event: ")
    assert "'bucket': must not be empty or blank, got ' '" in message
    assert "'key': Input should be a valid string, got 7" in message
    assert "'etag': Input should be a valid string, got True" in message


@pytest.mark.parametrize("event", [None, [], 5])
def test_a_payload_that_is_not_an_object(event):
    with pytest.raises(Rejected, match="invalid event: payload: Input should be a valid dictionary"):
        parse_payload(event, ObjectRef, Rejected, "event")


def test_a_string_payload_is_read_as_json_as_powertools_does():
    assert parse_payload('{"bucket": "b", "key": "k"}', ObjectRef, Rejected, "event").key == "k"
    with pytest.raises(Rejected, match="invalid event: payload: Invalid JSON"):
        parse_payload("bucket", ObjectRef, Rejected, "event")


def test_long_values_are_shortened_in_messages():
    with pytest.raises(Rejected) as caught:
        parse_payload({"bucket": "b", "key": ["x" * 500]}, ObjectRef, Rejected, "event")
    assert len(str(caught.value)) < 200 and "..." in str(caught.value)
