"""The channels' one vocabulary: tokens both ways, the words for sentences, the contact kinds."""

from __future__ import annotations

import pytest
from inbox.message.v1 import message_pb2
from inbox_events.channels import channel_from_token, channel_label, channel_token, contact_kind, tokens


def test_every_channel_of_the_contract_has_a_token_a_label_and_a_contact_kind() -> None:
    for number in message_pb2.Channel.values():
        if number == message_pb2.CHANNEL_UNSPECIFIED:
            continue
        assert channel_from_token(channel_token(number)) == number
        assert channel_label(number) and contact_kind(number)
    assert tokens() == ("chat", "email", "sms", "voice", "api")
    assert (channel_label(message_pb2.CHANNEL_SMS), channel_label(message_pb2.CHANNEL_VOICE)) == ("SMS", "phone")


def test_an_unknown_channel_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown channel 'fax': one of chat, email, sms, voice, api"):
        channel_from_token("fax")
    assert (channel_label(99, "?"), contact_kind(99)) == ("?", 0)
