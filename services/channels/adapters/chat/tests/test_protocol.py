import json

import pytest
from inbox_channel_chat.protocol import (
    ChatText,
    Hello,
    Identify,
    Read,
    Typing,
    identity_signature,
    identity_verified,
    inbound_message_id,
    issue_visitor_token,
    parse_frame,
    verify_visitor_token,
)
from inbox_runtime.errors import InvalidInput

SECRET = "s" * 32


def test_tokens_we_issue_verify_and_others_do_not() -> None:
    visitor_id, token = issue_visitor_token(SECRET)
    assert verify_visitor_token(SECRET, token) == visitor_id
    assert verify_visitor_token("t" * 32, token) is None
    assert verify_visitor_token(SECRET, visitor_id + ".forged") is None
    assert verify_visitor_token(SECRET, "someone-else." + token.split(".", 1)[1]) is None
    assert verify_visitor_token(SECRET, "") is None


def test_frames_parse() -> None:
    assert parse_frame('{"type": "hello"}') == Hello("", "")
    assert parse_frame('{"type": "message", "client_message_id": "m-1", "text": "hi"}') == ChatText("m-1", "hi")
    upload = "a" * 64
    frame = json.dumps({"type": "message", "client_message_id": "m-2", "text": "", "attachments": [upload]})
    assert parse_frame(frame) == ChatText("m-2", "", (upload,))
    assert parse_frame('{"type": "typing", "active": true}') == Typing(True)
    assert parse_frame('{"type": "read", "message_id": "r1"}') == Read("r1")
    assert parse_frame('{"type": "identify", "user_id": "u-1", "email": "Grace@Example.org"}') == Identify(
        "u-1", "grace@example.org", "", ""
    )


def test_only_the_host_sites_signature_verifies_an_identity() -> None:
    identity_secret = "host-site-identity-secret"
    signature = identity_signature(identity_secret, "u-1", "grace@example.org")
    signed = Identify("u-1", "grace@example.org", "Grace", signature)
    assert identity_verified(identity_secret, signed)
    assert not identity_verified(identity_secret, Identify("u-2", "grace@example.org", "Grace", signature))
    assert not identity_verified(identity_secret, Identify("u-1", "grace@example.org", "Grace", ""))
    assert not identity_verified("", signed)  # no secret configured: nothing is trusted


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[]",
        '{"type": "shout"}',
        '{"type": "message", "client_message_id": "m1", "text": ""}',
        '{"type": "message", "client_message_id": "bad id!", "text": "hi"}',
        '{"type": "message", "client_message_id": "m1", "text": 5}',
        '{"type": "hello", "visitor_token": 7}',
        '{"type": "typing", "active": "yes"}',
        '{"type": "read"}',
        '{"type": "identify"}',
        '{"type": "identify", "email": "not-an-email"}',
        '{"type": "message", "client_message_id": "m1", "text": "x", "attachments": ["../../etc/passwd"]}',
    ],
)
def test_bad_frames_are_refused_with_a_reason(raw: str) -> None:
    with pytest.raises(InvalidInput):
        parse_frame(raw)


def test_too_long_messages_are_refused() -> None:
    with pytest.raises(InvalidInput, match="longer"):
        parse_frame('{"type": "message", "client_message_id": "m1", "text": "%s"}' % ("x" * 10_001))


def test_the_same_client_message_maps_to_one_id() -> None:
    assert inbound_message_id("v", "m1") == inbound_message_id("v", "m1")
    assert inbound_message_id("v", "m1") != inbound_message_id("w", "m1")
