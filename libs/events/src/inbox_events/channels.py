"""The channels' one vocabulary: the token each goes by in subjects, settings, routing rules and inbox-web's
filters, the word a sentence uses for it ("Continued by SMS"), and the kind of contact point a customer
is reached at on it. Every service names channels through here (until this module, five maps did)."""

from __future__ import annotations

from dataclasses import dataclass

from inbox.message.v1 import message_pb2


@dataclass(frozen=True)
class ChannelNames:
    channel: message_pb2.Channel.ValueType
    # In subjects (`inbound.sms`), settings, rules and filters.
    token: str
    # In a sentence.
    label: str
    # How a customer is reached on it.
    contact_kind: message_pb2.ContactPointKind.ValueType


CHANNELS: tuple[ChannelNames, ...] = (
    ChannelNames(message_pb2.CHANNEL_CHAT, "chat", "chat", message_pb2.CONTACT_POINT_KIND_CHAT_VISITOR),
    ChannelNames(message_pb2.CHANNEL_EMAIL, "email", "email", message_pb2.CONTACT_POINT_KIND_EMAIL),
    ChannelNames(message_pb2.CHANNEL_SMS, "sms", "SMS", message_pb2.CONTACT_POINT_KIND_PHONE),
    ChannelNames(message_pb2.CHANNEL_VOICE, "voice", "phone", message_pb2.CONTACT_POINT_KIND_PHONE),
    ChannelNames(message_pb2.CHANNEL_API, "api", "API", message_pb2.CONTACT_POINT_KIND_EXTERNAL_USER),
)
_BY_CHANNEL: dict[int, ChannelNames] = {int(c.channel): c for c in CHANNELS}
_BY_TOKEN = {c.token: c for c in CHANNELS}


def tokens() -> tuple[str, ...]:
    return tuple(c.token for c in CHANNELS)


def channel_token(channel: int) -> str:
    """`CHANNEL_SMS` -> `sms`."""
    return _named(channel).token


def channel_from_token(token: str) -> message_pb2.Channel.ValueType:
    """`sms` -> `CHANNEL_SMS`; ValueError naming the known ones for anything else."""
    found = _BY_TOKEN.get(token)
    if found is None:
        raise ValueError(f"unknown channel {token!r}: one of {', '.join(tokens())}")
    return found.channel


def channel_label(channel: int, unknown: str = "") -> str:
    """The word for the channel in a sentence ("Continued by SMS"); `unknown` for a channel not known."""
    found = _BY_CHANNEL.get(channel)
    return found.label if found else unknown


def contact_kind(channel: int) -> int:
    """The kind of contact point a customer is reached at on the channel; 0 for a channel not known."""
    found = _BY_CHANNEL.get(channel)
    return int(found.contact_kind) if found else 0


def _named(channel: int) -> ChannelNames:
    found = _BY_CHANNEL.get(channel)
    if found is None:
        raise ValueError(f"unknown channel {channel}")
    return found
