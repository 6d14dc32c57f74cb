from inbox.channels.v1 import events_pb2 as ev
from inbox_channels.domain import status_advances


def test_status_only_moves_forward() -> None:
    assert status_advances(None, ev.DELIVERY_STATUS_QUEUED)
    assert status_advances(ev.DELIVERY_STATUS_SENT, ev.DELIVERY_STATUS_DELIVERED)
    assert not status_advances(ev.DELIVERY_STATUS_DELIVERED, ev.DELIVERY_STATUS_SENT)
    assert not status_advances(ev.DELIVERY_STATUS_SENT, ev.DELIVERY_STATUS_SENT)


def test_failure_is_recorded_once_and_is_final() -> None:
    assert status_advances(ev.DELIVERY_STATUS_DELIVERED, ev.DELIVERY_STATUS_FAILED)
    assert not status_advances(ev.DELIVERY_STATUS_FAILED, ev.DELIVERY_STATUS_FAILED)
    assert not status_advances(ev.DELIVERY_STATUS_FAILED, ev.DELIVERY_STATUS_DELIVERED)
