from inbox.channels.v1 import events_pb2 as ev
from inbox_channels.domain import Link, link_after, status_advances
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


def stored(sequence: int, message_id: str) -> StoredEvent:
    item = ev.InboundMessage(message_id=message_id, channel_name="sms", text="hello")
    return StoredEvent(sequence, encode(item, event_id=f"inbound:{message_id}"))


def test_each_item_names_the_last_one_stored_on_its_senders_subject() -> None:
    assert link_after(None, "inbound:m1") == Link("", 0)
    assert link_after(stored(7, "m1"), "inbound:m2") == Link("m1", 7)


def test_a_providers_retry_of_the_last_item_is_known_as_stored() -> None:
    assert link_after(stored(9, "m2"), "inbound:m2") == Link("", 9, already_stored=True)
