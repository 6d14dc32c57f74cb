from inbox.channels.v1 import events_pb2 as ev
from inbox_channels.domain import LatestBySender, Link, SenderLatest, link_after, status_advances
from inbox_events import StoredEvent
from inbox_events.codec import encode


def test_status_only_moves_forward() -> None:
    assert status_advances(None, ev.DELIVERY_STATUS_QUEUED)
    assert status_advances(ev.DELIVERY_STATUS_SENT, ev.DELIVERY_STATUS_DELIVERED)
    assert not status_advances(ev.DELIVERY_STATUS_DELIVERED, ev.DELIVERY_STATUS_SENT)
    assert not status_advances(ev.DELIVERY_STATUS_SENT, ev.DELIVERY_STATUS_SENT)


def test_failure_is_recorded_once_and_is_final() -> None:
    assert status_advances(ev.DELIVERY_STATUS_DELIVERED, ev.DELIVERY_STATUS_FAILED)
    assert not status_advances(ev.DELIVERY_STATUS_FAILED, ev.DELIVERY_STATUS_FAILED)
    assert not status_advances(ev.DELIVERY_STATUS_FAILED, ev.DELIVERY_STATUS_DELIVERED)


def stored(sequence: int, message_id: str) -> SenderLatest:
    """The last item as the stream's leader answers it."""
    item = ev.InboundMessage(message_id=message_id, channel_name="sms", text="hello")
    return SenderLatest.of(StoredEvent(sequence, encode(item, event_id=f"inbound:{message_id}")))


def test_each_item_names_the_last_one_stored_on_its_senders_subject() -> None:
    assert link_after(None, "inbound:m1") == Link("", 0)
    assert link_after(stored(7, "m1"), "inbound:m2") == Link("m1", 7)


def test_a_providers_retry_of_the_last_item_is_known_as_stored() -> None:
    assert link_after(stored(9, "m2"), "inbound:m2") == Link("", 9, already_stored=True)


def test_the_latest_of_the_most_recent_senders_is_remembered() -> None:
    known = LatestBySender(limit=2)
    known.stored("inbound.sms.a", SenderLatest(1, "inbound:m1", "m1"))
    known.stored("inbound.sms.b", SenderLatest(2, "inbound:m2", "m2"))
    assert known.get("inbound.sms.a") == SenderLatest(1, "inbound:m1", "m1")  # a is now the most recent
    known.stored("inbound.sms.c", SenderLatest(3, "inbound:m3", "m3"))
    known.stored("inbound.sms.a", SenderLatest(4, "inbound:m4", "m4"))

    assert known.get("inbound.sms.b") is None
    assert known.get("inbound.sms.a") == SenderLatest(4, "inbound:m4", "m4")
    assert known.get("inbound.sms.c") == SenderLatest(3, "inbound:m3", "m3")
