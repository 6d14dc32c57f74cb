"""Reading a delivery's counts from its ack subject, as nats-py's `Msg.metadata` reads them."""

from __future__ import annotations

import pytest
from inbox_events.pull import Delivery, delivery_of
from nats.aio.msg import Msg


def delivered(reply: str) -> Msg:
    return Msg(None, subject="conv.message_added", reply=reply)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "reply",
    [
        "$JS.ACK.CONVERSATIONS.routing-on-message-added.2.5301.4811.1796600000000000000.17",
        "$JS.ACK._.ACCOUNTHASH.CONVERSATIONS.routing-on-message-added.2.5301.4811.1796600000000000000.17",
        "$JS.ACK.hub.ACCOUNTHASH.CONVERSATIONS.routing-on-message-added.2.5301.4811.1796600000000000000.17.x9",
    ],
)
def test_the_counts_are_those_nats_py_reads(reply: str) -> None:
    msg = delivered(reply)
    metadata = msg.metadata
    expected = Delivery(
        metadata.num_delivered, metadata.sequence.stream, metadata.sequence.consumer, metadata.num_pending
    )
    assert delivery_of(msg) == expected == Delivery(2, 5301, 4811, 17)


def test_a_message_that_is_not_a_delivery_is_refused() -> None:
    with pytest.raises(ValueError, match="not a JetStream delivery"):
        delivery_of(delivered("_INBOX.routing.abc"))
