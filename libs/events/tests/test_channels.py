"""Channels by name: the built-in ones with their v1 enum numbers, words and contact kinds; any other
well-formed name as a channel an adapter added; contracts read and written by name."""

from __future__ import annotations

import sqlite3

import pytest
from inbox.channels.v1 import channel_service_pb2, events_pb2
from inbox.message.v1 import message_pb2
from inbox_events.channels import (
    built_in_names,
    channel_fields,
    channel_label,
    channel_of,
    check_channel_name,
    contact_kind,
    enum_of,
    name_of_enum,
    requested_channel,
    sql_name_of_enum,
)


def test_every_channel_of_the_v1_enum_has_a_name_a_label_and_a_contact_kind() -> None:
    for number in message_pb2.Channel.values():
        if number == message_pb2.CHANNEL_UNSPECIFIED:
            continue
        assert enum_of(name_of_enum(number)) == number
        assert channel_label(name_of_enum(number)) and contact_kind(name_of_enum(number))
    assert built_in_names() == ("chat", "email", "sms", "voice", "api")
    assert (channel_label("sms"), channel_label("voice")) == ("SMS", "phone")


def test_an_added_channel_is_a_name_the_enum_does_not_list() -> None:
    assert check_channel_name("telegram") == "telegram"
    assert enum_of("telegram") == message_pb2.CHANNEL_UNSPECIFIED
    assert channel_label("telegram") == "telegram"
    assert contact_kind("telegram") == message_pb2.CONTACT_POINT_KIND_CHANNEL_ACCOUNT
    for bad in ("", "Telegram", "tele.gram", "tele-gram", "9lives", "inbound.>", "x" * 33):
        with pytest.raises(ValueError, match="is not a channel's name"):
            check_channel_name(bad)
    assert (channel_label("", "?"), contact_kind(""), name_of_enum(99)) == ("?", 0, "")


def test_contracts_carry_the_name_and_v1_readers_still_get_the_enum() -> None:
    inbound = events_pb2.InboundMessage(message_id="m", **channel_fields("sms"))
    assert (inbound.channel, inbound.channel_name) == (message_pb2.CHANNEL_SMS, "sms")
    added = events_pb2.InboundMessage(message_id="m", **channel_fields("telegram"))
    assert (added.channel, channel_of(added)) == (message_pb2.CHANNEL_UNSPECIFIED, "telegram")
    # A v1 producer sets only the enum.
    assert channel_of(events_pb2.InboundMessage(channel=message_pb2.CHANNEL_EMAIL)) == "email"
    assert channel_of(events_pb2.InboundMessage()) == ""


def test_a_request_names_its_channel_either_way_but_not_two() -> None:
    request = channel_service_pb2.SendMessageRequest
    assert requested_channel(request(channel_name="telegram")) == "telegram"
    assert requested_channel(request(channel=message_pb2.CHANNEL_SMS)) == "sms"
    assert requested_channel(request(channel=message_pb2.CHANNEL_SMS, channel_name="sms")) == "sms"
    assert requested_channel(request()) == ""
    with pytest.raises(ValueError, match="name different channels"):
        requested_channel(request(channel=message_pb2.CHANNEL_SMS, channel_name="email"))
    with pytest.raises(ValueError, match="is not a channel's name"):
        requested_channel(request(channel_name="SMS"))


def test_stores_written_with_enum_numbers_are_migrated_to_names() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (channel INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?)", [(1,), (3,), (4,), (0,)])
    names = [row[0] for row in conn.execute(f"SELECT {sql_name_of_enum('channel')} FROM t")]
    assert names == ["chat", "sms", "voice", ""]
