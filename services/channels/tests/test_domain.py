from inbox.channels.v1 import events_pb2 as ev
from inbox_channels.domain import SenderChains, status_advances


def test_status_only_moves_forward() -> None:
    assert status_advances(None, ev.DELIVERY_STATUS_QUEUED)
    assert status_advances(ev.DELIVERY_STATUS_SENT, ev.DELIVERY_STATUS_DELIVERED)
    assert not status_advances(ev.DELIVERY_STATUS_DELIVERED, ev.DELIVERY_STATUS_SENT)
    assert not status_advances(ev.DELIVERY_STATUS_SENT, ev.DELIVERY_STATUS_SENT)


def test_failure_is_recorded_once_and_is_final() -> None:
    assert status_advances(ev.DELIVERY_STATUS_DELIVERED, ev.DELIVERY_STATUS_FAILED)
    assert not status_advances(ev.DELIVERY_STATUS_FAILED, ev.DELIVERY_STATUS_FAILED)
    assert not status_advances(ev.DELIVERY_STATUS_FAILED, ev.DELIVERY_STATUS_DELIVERED)


def test_each_item_names_its_senders_previous_one() -> None:
    chains = SenderChains(capacity=2)
    assert chains.link("2:+1415", "m1") == ""
    assert chains.link("3:visitor", "c1") == ""
    assert chains.link("2:+1415", "m2") == "m1"
    assert chains.link("2:+1415", "m2") == ""  # a provider's retry of the latest names nobody
    assert chains.link("2:+1415", "m3") == "m2"
    chains.link("1:a@example.org", "e1")  # a third sender: the one heard from longest ago is forgotten
    assert chains.link("3:visitor", "c2") == ""


def test_an_item_never_published_is_unlinked_unless_another_followed_it() -> None:
    chains = SenderChains()
    chains.link("2:+1415", "m1")
    assert chains.link("2:+1415", "m2") == "m1"
    chains.unlink("2:+1415", "m2", "m1")  # the broker refused m2: m3 follows m1
    assert chains.link("2:+1415", "m3") == "m1"
    chains.link("2:+1415", "m4")
    chains.unlink("2:+1415", "m3", "m1")  # m4 followed m3 already: its link stays
    assert chains.link("2:+1415", "m5") == "m4"
    assert chains.link("3:new", "x1") == ""
    chains.unlink("3:new", "x1", "")
    assert chains.link("3:new", "x2") == ""
