"""The one NATS JetStream bus wrapper: subjects, streams, the envelope codec, publish and consume."""

from inbox_events.bus import (
    ConsumerSpec,
    Event,
    EventBus,
    NotStored,
    Outgoing,
    PermanentError,
    Postponed,
    StoredEvent,
    SubjectMoved,
)
from inbox_events.feed import BadCursor, FeedCursor, FeedEvent, conversation_of, payload_of
from inbox_events.streams import STREAMS, StreamSpec
from inbox_events.subjects import subject_for

__all__ = [
    "STREAMS",
    "BadCursor",
    "ConsumerSpec",
    "Event",
    "EventBus",
    "FeedCursor",
    "FeedEvent",
    "NotStored",
    "Outgoing",
    "PermanentError",
    "Postponed",
    "StoredEvent",
    "StreamSpec",
    "SubjectMoved",
    "conversation_of",
    "payload_of",
    "subject_for",
]
