"""Mail in over real SMTP (smtplib to our listener), replies out to a real relay (aiosmtpd)."""

from __future__ import annotations

import asyncio
import smtplib
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import pytest
from inbox.channels.v1 import events_pb2
from inbox.message.v1 import message_pb2
from inbox_channel_email.adapter import EmailAdapter
from inbox_channels.app import RunningChannels
from inbox_channels.subscribers import erasure_consumer, outbound_consumer
from inbox_devstack.events import stored_events
from inbox_devstack.providers import SmtpRelay
from inbox_devstack.traces import files_holding
from inbox_devstack.waiting import eventually

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def adapter(channels: RunningChannels) -> EmailAdapter:
    return next(a for a in channels.actions.adapters if isinstance(a, EmailAdapter))


def send(port: int, sender: str, recipients: list[str], raw: bytes) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        return client.sendmail(sender, recipients, raw)


async def inbound(channels: RunningChannels, at_least: int = 0) -> list[events_pb2.InboundMessage]:
    url = channels.nats_url
    return await stored_events(url, "inbound.email.*", events_pb2.InboundMessage, at_least=at_least, timeout=3)


async def test_mail_to_a_support_address_becomes_one_inbound_message(
    channels: RunningChannels, nats_api_key: str
) -> None:
    port = adapter(channels).smtp_port
    raw = (FIXTURES / "with_attachment.eml").read_bytes()
    await asyncio.to_thread(send, port, "linus@example.com", ["support@inbox.example.com"], raw)
    await asyncio.to_thread(send, port, "linus@example.com", ["support@inbox.example.com"], raw)  # a retry
    [item] = await inbound(channels, at_least=1)
    assert item.channel == message_pb2.CHANNEL_EMAIL and item.inbox_id == "support"
    assert item.sender == message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_EMAIL, value="linus@example.com")
    assert item.text == "Please see the attached invoice."
    assert item.provider_message_id == "linus@example.com:att-1@example.com"  # the sender's Message-ID
    assert item.metadata["subject"] == "Invoice attached"
    [attachment] = item.attachments
    assert (attachment.filename, attachment.size_bytes) == ("invoice.pdf", 23)

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{channels.http_port}") as http:
        assert (await http.get(attachment.url)).status_code == 401
        got = await http.get(attachment.url, headers={"Authorization": f"Bearer {nats_api_key}"})
        assert got.content == b"%PDF-1.4 fake pdf bytes"
        assert got.headers["content-disposition"] == "attachment"
        original = await http.get(item.metadata["original_url"], headers={"Authorization": f"Bearer {nats_api_key}"})
        # The original as it arrived over SMTP (CRLF line ends), headers and all.
        assert original.content.replace(b"\r\n", b"\n").startswith(raw.replace(b"\r\n", b"\n").rstrip(b"\n"))


async def test_relaying_unknown_mailboxes_and_oversize_mail_are_refused(channels: RunningChannels) -> None:
    port = adapter(channels).smtp_port
    raw = (FIXTURES / "plain_reply.eml").read_bytes()
    with pytest.raises(smtplib.SMTPRecipientsRefused) as relayed:
        await asyncio.to_thread(send, port, "grace@example.org", ["someone@elsewhere.org"], raw)
    assert relayed.value.recipients["someone@elsewhere.org"][0] == 554
    with pytest.raises(smtplib.SMTPRecipientsRefused) as unknown:
        await asyncio.to_thread(send, port, "grace@example.org", ["nobody@inbox.example.com"], raw)
    assert unknown.value.recipients["nobody@inbox.example.com"][0] == 550
    huge = raw + b"x" * (300 * 1024)
    with pytest.raises(smtplib.SMTPException) as oversize:
        await asyncio.to_thread(send, port, "grace@example.org", ["support@inbox.example.com"], huge)
    assert "552" in str(oversize.value)
    # MIME parts nested a thousand deep: refused on purpose, with the reason, not an exception's "500 Error".
    head = b"From: grace@example.org\r\nTo: support@inbox.example.com\r\nSubject: deep\r\n"
    parts = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (n, n + 1) for n in range(1000))
    deep = head + b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n" + parts + b"--b1000--\r\n"
    with pytest.raises(smtplib.SMTPDataError) as nested:
        await asyncio.to_thread(send, port, "grace@example.org", ["support@inbox.example.com"], deep)
    assert nested.value.smtp_code == 554 and b"nested too deeply" in nested.value.smtp_error
    assert await inbound(channels) == []


async def test_a_sender_address_the_mail_parser_chokes_on_is_answered_not_crashed_on(channels: RunningChannels) -> None:
    port = adapter(channels).smtp_port
    raw = (FIXTURES / "plain_reply.eml").read_bytes()
    # The standard library's address parser raises IndexError on this From (it answered "500 Error" before).
    garbled = b"From: grace@\r\n" + b"\r\n".join(
        line for line in raw.replace(b"\r\n", b"\n").split(b"\n") if not line.lower().startswith(b"from:")
    ).replace(b"\n", b"\r\n")
    assert await asyncio.to_thread(send, port, "grace@example.org", ["support@inbox.example.com"], garbled) == {}


@pytest.mark.parametrize(("name", "why"), [("auto_reply.eml", "auto-reply"), ("bounce.eml", "bounce")])
async def test_automatic_mail_is_passed_on_flagged_never_as_a_customer_message(
    channels: RunningChannels, name: str, why: str
) -> None:
    raw = (FIXTURES / name).read_bytes()
    refused = await asyncio.to_thread(
        send, adapter(channels).smtp_port, "x@example.org", ["support@inbox.example.com"], raw
    )
    assert refused == {}
    # Threading keeps it on the conversation it answers, or nowhere; it opens nothing either way.
    [item] = await inbound(channels, at_least=1)
    assert (item.kind, item.metadata["automatic"]) == (message_pb2.MESSAGE_KIND_AUTOMATIC, why)


async def test_our_own_mail_looping_back_is_not_passed_on(channels: RunningChannels) -> None:
    raw = (FIXTURES / "loop.eml").read_bytes()
    port = adapter(channels).smtp_port
    assert await asyncio.to_thread(send, port, "x@example.org", ["support@inbox.example.com"], raw) == {}
    assert await inbound(channels) == []


async def test_a_reply_goes_out_threaded_once_and_a_bounce_marks_it_failed(
    channels: RunningChannels, relay: SmtpRelay
) -> None:
    port = adapter(channels).smtp_port
    await asyncio.to_thread(
        send, port, "grace@example.org", ["sales@inbox.example.com"], (FIXTURES / "plain_reply.eml").read_bytes()
    )
    [customer_mail] = await inbound(channels, at_least=1)
    reply = events_pb2.OutboundMessage(
        message_id="reply-7",
        conversation_id="conv-1",
        channel=message_pb2.CHANNEL_EMAIL,
        inbox_id="sales",
        recipient=customer_mail.sender,
        text="Checked: it arrives today.",
        idempotency_key="reply-7-key",
        in_reply_to_message_id=customer_mail.message_id,
    )
    await channels.bus.publish(reply, event_id="out-7")
    await channels.bus.publish(reply, event_id="out-7-again")  # the same reply redelivered

    async def both_handled() -> bool:
        return await channels.bus.settled(outbound_consumer(adapter(channels)))

    await eventually(both_handled, what="the outbound consumer acked both events")
    [envelope] = relay.received
    assert envelope.rcpt_tos == ["grace@example.org"]
    mail = message_from_bytes(envelope.original_content or b"", policy=policy.default)
    assert mail["From"] == "Support <sales@inbox.example.com>"
    assert mail["Reply-To"] == "sales@inbox.example.com"
    assert mail["Message-ID"] == "<reply-7-key@inbox.example.com>"
    assert mail["In-Reply-To"] == "<CAF-grace-2@mail.example.org>"
    assert mail["Subject"] == "Re: Your order 4411"
    assert {p.get_content_type() for p in mail.iter_parts()} == {"text/plain", "text/html"}
    delivery = await channels.actions.delivery("reply-7")
    assert delivery is not None and delivery.status == events_pb2.DELIVERY_STATUS_SENT

    bounce = (FIXTURES / "bounce.eml").read_bytes().replace(b"REPLY_MESSAGE_ID", b"reply-7-key")
    await asyncio.to_thread(send, port, "MAILER-DAEMON@mx.example.org", ["support@inbox.example.com"], bounce)
    # The bounce is handled before its 250: the delivery is failed by now.
    delivery = await channels.actions.delivery("reply-7")
    assert delivery is not None and (delivery.status, delivery.detail) == (events_pb2.DELIVERY_STATUS_FAILED, "bounced")


async def test_an_erased_sender_leaves_no_mail_original_or_attachment_behind(
    channels: RunningChannels, tmp_path: Path, nats_api_key: str
) -> None:
    from inbox.conversations.v1 import events_pb2 as conversation_events

    email = adapter(channels)
    raw = (FIXTURES / "with_attachment.eml").read_bytes()
    await asyncio.to_thread(send, email.smtp_port, "linus@example.com", ["support@inbox.example.com"], raw)
    [item] = await inbound(channels, at_least=1)

    def kept_anywhere(marker: bytes) -> bool:
        """In the adapter's files (the streams are threading's to erase, tests/e2e/test_erasure.py)."""
        return bool(files_holding(tmp_path, marker, skip=(tmp_path / "nats",)))

    # The attachment's bytes and the original's headers are kept until the sender is erased.
    assert kept_anywhere(b"fake pdf bytes") and kept_anywhere(b"att-1@example.com")
    sender = message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_EMAIL, value="Linus@Example.com")
    await channels.bus.publish(
        conversation_events.CustomerErased(customer_id="cust-linus", contact_points=[sender]), event_id="erased-linus"
    )

    async def handled() -> bool:
        return await channels.bus.settled(erasure_consumer(email))

    await eventually(handled, what="the email adapter handled the erasure")
    assert not kept_anywhere(b"fake pdf bytes")
    assert not kept_anywhere(b"att-1@example.com")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{channels.http_port}") as http:
        [attachment] = item.attachments
        got = await http.get(attachment.url, headers={"Authorization": f"Bearer {nats_api_key}"})
        assert got.status_code == 404


async def test_a_mail_without_a_usable_from_lands_and_a_reused_message_id_is_not_a_duplicate(
    channels: RunningChannels,
) -> None:
    port = adapter(channels).smtp_port
    body = b"To: support@inbox.example.com\r\nSubject: order\r\nMessage-ID: <same@example.org>\r\n\r\nWhere?\r\n"
    # A form mailer's `From: <>` with the customer in Reply-To; then nothing usable but the envelope.
    await asyncio.to_thread(
        send,
        port,
        "forms@example.net",
        ["support@inbox.example.com"],
        b"From: <>\r\nReply-To: ada@example.org\r\n" + body,
    )
    await asyncio.to_thread(send, port, "grace@example.org", ["support@inbox.example.com"], b"From: ???\r\n" + body)
    # The same mail again from Grace's server: a retry, one item.
    await asyncio.to_thread(send, port, "grace@example.org", ["support@inbox.example.com"], b"From: ???\r\n" + body)
    items = await inbound(channels, at_least=2)
    assert sorted(i.sender.value for i in items) == ["ada@example.org", "grace@example.org"]
    assert len({i.message_id for i in items}) == 2


async def test_a_mail_from_nobody_known_lands_and_a_reply_to_it_fails_with_what_to_do(
    channels: RunningChannels, relay: SmtpRelay
) -> None:

    raw = b"From: <>\r\nTo: support@inbox.example.com\r\nSubject: help\r\n\r\nMy order never came.\r\n"
    await asyncio.to_thread(send, adapter(channels).smtp_port, "<>", ["support@inbox.example.com"], raw)
    [item] = await inbound(channels, at_least=1)
    assert item.sender.value.endswith("@unknown-sender.invalid") and item.text == "My order never came."
    reply = events_pb2.OutboundMessage(
        message_id="reply-unknown", conversation_id="conv-1", channel=message_pb2.CHANNEL_EMAIL, recipient=item.sender
    )
    await channels.bus.publish(reply, event_id="out-unknown")

    async def failed() -> str:
        delivery = await channels.actions.delivery("reply-unknown")
        return delivery.detail if delivery and delivery.status == events_pb2.DELIVERY_STATUS_FAILED else ""

    assert "merge the customer" in await eventually(failed, what="the reply is marked failed")
    assert relay.received == []


async def test_every_mail_of_the_corpus_is_accepted_over_smtp_and_none_is_lost(channels: RunningChannels) -> None:
    """The real-world corpus (fixtures/corpus) through the listener: each answered 250 (a 28,000-character
    line included), each that is not automatic one inbound item, its sender the expected one."""
    import json

    corpus = FIXTURES / "corpus"
    expected = {k: v for k, v in json.loads((corpus / "expected.json").read_text("utf-8")).items() if k[0] != "_"}
    port = adapter(channels).smtp_port
    for name, case in sorted(expected.items()):
        envelope = str(case.get("envelope", "")) or "relay@example.net"
        refused = await asyncio.to_thread(
            send, port, envelope, ["support@inbox.example.com"], (corpus / name).read_bytes()
        )
        assert refused == {}, name
    wanted = sorted(str(c["sender"]) for c in expected.values() if not c.get("automatic"))
    automatic = [n for n, c in expected.items() if c.get("automatic")]
    items = await inbound(channels, at_least=len(wanted) + len(automatic))
    assert sorted(i.sender.value for i in items if i.kind == message_pb2.MESSAGE_KIND_TEXT) == wanted
    assert len([i for i in items if i.kind == message_pb2.MESSAGE_KIND_AUTOMATIC]) == len(automatic)
