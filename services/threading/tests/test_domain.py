import pytest
from inbox_runtime.errors import InvalidInput
from inbox_threading.domain import (
    Conversation,
    ConversationStatus,
    decide_thread,
    reply_message_id,
    validate_reply,
)


def conversation(status: ConversationStatus) -> Conversation:
    return Conversation("c1", "cust", status, 1, "chat", "", 0, 0, 1)


def test_an_active_conversation_continues_whatever_its_status() -> None:
    for status in (ConversationStatus.OPEN, ConversationStatus.PENDING, ConversationStatus.SNOOZED):
        assert decide_thread(conversation(status)).conversation_id == "c1"


def test_a_resolved_or_missing_conversation_means_a_new_one() -> None:
    assert decide_thread(conversation(ConversationStatus.RESOLVED)).conversation_id is None
    assert decide_thread(None).conversation_id is None


def test_reply_ids_are_stable_per_conversation_and_client_id() -> None:
    assert reply_message_id("c1", "r1") == reply_message_id("c1", "r1")
    assert reply_message_id("c1", "r1") != reply_message_id("c2", "r1")


def test_reply_text_is_trimmed() -> None:
    assert validate_reply("c1", "a1", "  hi  ", "r1") == "hi"


@pytest.mark.parametrize(
    ("conversation_id", "agent_id", "text", "client_reply_id", "complaint"),
    [
        ("", "a", "hi", "r", "conversation_id"),
        ("c", "", "hi", "r", "agent_id"),
        ("c", "a", "   ", "r", "empty"),
        ("c", "a", "x" * 10_001, "r", "longer"),
        ("c", "a", "hi", "", "client_reply_id"),
    ],
)
def test_bad_replies_say_what_is_wrong(
    conversation_id: str, agent_id: str, text: str, client_reply_id: str, complaint: str
) -> None:
    with pytest.raises(InvalidInput, match=complaint):
        validate_reply(conversation_id, agent_id, text, client_reply_id)
