"""Channels by name: a channel is identified by its registered name (`sms`, `telegram`), the one an adapter
declares (`ChannelAdapter.channel`) and every contract carries (`channel_name` fields). The name is the token
of its subjects (`inbound.telegram`), settings, routing rules and capacities, and inbox-web's filters.

The five channels the suite ships with are also listed here, with what the v1 `Channel` enum calls them,
the word a sentence uses ("Continued by SMS") and the kind of contact point a customer is reached at on
them. Any other well-formed name is a channel too, added by installing an adapter package: the enum fields
hold CHANNEL_UNSPECIFIED for it, its word is its name, and its customers are channel accounts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from inbox.message.v1 import message_pb2

# Lower-case, a subject token and a settings suffix alike: no dots, wildcards, hyphens or spaces.
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


@dataclass(frozen=True)
class BuiltInChannel:
    channel: message_pb2.Channel.ValueType
    name: str
    # In a sentence.
    label: str
    # How a customer is reached on it.
    contact_kind: message_pb2.ContactPointKind.ValueType


BUILT_IN: tuple[BuiltInChannel, ...] = (
    BuiltInChannel(message_pb2.CHANNEL_CHAT, "chat", "chat", message_pb2.CONTACT_POINT_KIND_CHAT_VISITOR),
    BuiltInChannel(message_pb2.CHANNEL_EMAIL, "email", "email", message_pb2.CONTACT_POINT_KIND_EMAIL),
    BuiltInChannel(message_pb2.CHANNEL_SMS, "sms", "SMS", message_pb2.CONTACT_POINT_KIND_PHONE),
    BuiltInChannel(message_pb2.CHANNEL_VOICE, "voice", "phone", message_pb2.CONTACT_POINT_KIND_PHONE),
    BuiltInChannel(message_pb2.CHANNEL_API, "api", "API", message_pb2.CONTACT_POINT_KIND_EXTERNAL_USER),
)
_BY_ENUM: dict[int, BuiltInChannel] = {int(c.channel): c for c in BUILT_IN}
_BY_NAME = {c.name: c for c in BUILT_IN}


def built_in_names() -> tuple[str, ...]:
    return tuple(c.name for c in BUILT_IN)


def is_channel_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name))


def check_channel_name(name: str) -> str:
    """`name`, or ValueError saying what a channel's name looks like."""
    if not is_channel_name(name):
        raise ValueError(
            f"{name!r} is not a channel's name: lower-case letters, digits and _, starting with a letter, "
            f"at most 32 (such as {', '.join(built_in_names())})"
        )
    return name


def enum_of(name: str) -> message_pb2.Channel.ValueType:
    """What a v1 `Channel` field holds for the channel: CHANNEL_UNSPECIFIED for one the enum does not list."""
    found = _BY_NAME.get(name)
    return found.channel if found else message_pb2.CHANNEL_UNSPECIFIED


def name_of_enum(channel: int) -> str:
    """The name of a channel the v1 enum lists; "" for CHANNEL_UNSPECIFIED (or a number it does not list)."""
    found = _BY_ENUM.get(channel)
    return found.name if found else ""


def channel_of(message: Any, field: str = "channel") -> str:
    """The channel a contract names: its `<field>_name`, else (a v1 producer) its `<field>` enum; "" for none."""
    name: str = getattr(message, f"{field}_name")
    return name or name_of_enum(getattr(message, field))


def channel_fields(name: str, field: str = "channel") -> dict[str, Any]:
    """Both fields of a contract for the channel: `Message(..., **channel_fields("sms"))`."""
    return {field: enum_of(name), f"{field}_name": name}


def requested_channel(message: Any, field: str = "channel") -> str:
    """The channel a request names, by name or (a v1 caller) enum; "" when it names none. ValueError when
    the name is malformed or the two disagree."""
    name: str = getattr(message, f"{field}_name")
    by_enum = name_of_enum(getattr(message, field))
    if name:
        check_channel_name(name)
        if by_enum and by_enum != name:
            raise ValueError(f"{field}_name {name!r} and {field} {by_enum!r} name different channels")
        return name
    return by_enum


def channel_label(name: str, unknown: str = "") -> str:
    """The word for the channel in a sentence ("Continued by SMS"): its own name for an added channel,
    `unknown` for none."""
    if not name:
        return unknown
    found = _BY_NAME.get(name)
    return found.label if found else name


def contact_kind(name: str) -> int:
    """The kind of contact point a customer is reached at on the channel: an added channel's customers are
    accounts on it (`ContactPoint.channel` scopes them); 0 for none."""
    if not name:
        return 0
    found = _BY_NAME.get(name)
    return int(found.contact_kind) if found else int(message_pb2.CONTACT_POINT_KIND_CHANNEL_ACCOUNT)


def sql_name_of_enum(column: str) -> str:
    """A SQL expression turning a column of v1 enum numbers into channels' names: for the migrations of
    stores written before channels had names (the numbers of the built-in channels never change)."""
    cases = " ".join(f"WHEN {int(c.channel)} THEN '{c.name}'" for c in BUILT_IN)
    return f"CASE {column} {cases} ELSE '' END"


def enum_names() -> tuple[tuple[int, str], ...]:
    """Each built-in channel's v1 enum number and name: for upgrading documents that hold the number."""
    return tuple((int(c.channel), c.name) for c in BUILT_IN)
