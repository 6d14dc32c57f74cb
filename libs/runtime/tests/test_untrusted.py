"""Untrusted JSON fails with InvalidInput and a reason, never with another exception."""

from __future__ import annotations

import pytest
from inbox_runtime.errors import InvalidInput
from inbox_runtime.untrusted import parse_json


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "body is not JSON"),
        (b'{"text": "\xff"}', "body is not JSON"),
        ('{"text": "\\ud800"}', "JSON holds text that is not valid Unicode"),
        ('{"\\udfff": 1}', "JSON holds text that is not valid Unicode"),
        ("[" * 100_000 + "]" * 100_000, "JSON is nested too deeply"),
    ],
)
def test_bad_json_is_refused_with_its_reason(raw: str | bytes, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        parse_json(raw)


def test_good_json_comes_back_whole() -> None:
    assert parse_json('{"text": "¿Dónde está? \\ud83d\\ude00", "n": [1, 2]}') == {
        "text": "¿Dónde está? 😀",
        "n": [1, 2],
    }
