"""The email adapter passes the channel adapter conformance kit (SMTP in, a real relay out)."""

from __future__ import annotations

import asyncio
import smtplib
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from inbox.channels.v1 import events_pb2
from inbox.message.v1 import message_pb2
from inbox_channel_email.adapter import EmailAdapter
from inbox_channels.app import RunningChannels
from inbox_channels.conformance import AdapterConformance, ConformanceCase, InboundSample
from inbox_devstack.providers import SmtpRelay

EMAIL = message_pb2.CONTACT_POINT_KIND_EMAIL


def smtp_send(runtime: RunningChannels, sender: str, recipient: str, raw: bytes) -> bool:
    [adapter] = runtime.actions.adapters
    assert isinstance(adapter, EmailAdapter)
    try:
        with smtplib.SMTP("127.0.0.1", adapter.smtp_port, timeout=10) as client:
            client.sendmail(sender, [recipient], raw)
    except smtplib.SMTPRecipientsRefused:
        return False
    return True


def mail(message_id: str, sender: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "support@inbox.example.com", "Help"
    message["Message-ID"] = f"<{message_id}>"
    message.set_content(f"Body of {message_id}")
    return bytes(message)


def sample(message_id: str, sender: str) -> InboundSample:
    async def send(runtime: RunningChannels) -> bool:
        return await asyncio.to_thread(
            smtp_send, runtime, sender, "support@inbox.example.com", mail(message_id, sender)
        )

    # The provider's id is the sender's Message-ID: de-duplicated per sender.
    provider_id = f"{sender}:{message_id}"
    return InboundSample(message_id, send, provider_id, message_pb2.ContactPoint(kind=EMAIL, value=sender))


async def relaying(runtime: RunningChannels) -> bool:
    return await asyncio.to_thread(
        smtp_send, runtime, "a@example.org", "victim@elsewhere.org", mail("r@x", "a@example.org")
    )


async def unknown_mailbox(runtime: RunningChannels) -> bool:
    return await asyncio.to_thread(
        smtp_send, runtime, "a@example.org", "root@inbox.example.com", mail("u@x", "a@example.org")
    )


class TestConformance(AdapterConformance):
    @pytest.fixture
    def case(self, email_env: None, relay: SmtpRelay) -> ConformanceCase:
        def keys() -> list[str]:
            sent = [message_from_bytes(e.original_content or b"", policy=policy.default) for e in relay.received]
            return [str(m["Message-ID"]).strip("<>").rpartition("@")[0] for m in sent]

        async def bounce(runtime: RunningChannels, message_id: str, status: str) -> None:
            report = EmailMessage()
            report["From"], report["To"] = "MAILER-DAEMON@mx.example.org", "support@inbox.example.com"
            report["Subject"], report["Message-ID"] = "Undelivered Mail", f"<bounce-{message_id}@mx.example.org>"
            report["References"] = f"<key-{message_id}@inbox.example.com>"
            report.set_content("Your message could not be delivered.")
            assert await asyncio.to_thread(
                smtp_send, runtime, "MAILER-DAEMON@mx.example.org", "support@inbox.example.com", bytes(report)
            )

        return ConformanceCase(
            make_adapter=EmailAdapter,
            samples=[
                sample("one@mail.example.org", "grace@example.org"),
                sample("two@mail.example.org", "ada@example.net"),
            ],
            forged=[relaying, unknown_mailbox],
            recipient=message_pb2.ContactPoint(kind=EMAIL, value="grace@example.org"),
            provider_received=keys,
            # An SMTP relay takes every copy: the adapter keeps its own record of what it sent.
            provider_deduplicates=False,
            statuses={"bounce": events_pb2.DELIVERY_STATUS_FAILED},
            send_status=bounce,
        )
