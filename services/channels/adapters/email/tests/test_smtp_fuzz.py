"""Mail fuzzed (hypothesis) over real SMTP into the email adapter of a real channels runtime: whatever the
headers, charsets, encodings, bodies and MIME nesting, the answer is 250 or a refusal on purpose with its
reason, never the server's "500 Error" for an exception, and nothing refused is stored."""

from __future__ import annotations

import asyncio
import smtplib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inbox.channels.v1 import events_pb2
from inbox_channel_email.adapter import EmailAdapter
from inbox_channels.app import RunningChannels
from inbox_devstack.events import stored_events

FUZZ = settings(
    max_examples=120, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
SUPPORT = "support@inbox.example.com"

header_text = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=40)
senders = st.sampled_from(["Grace <grace@example.org>", "<>", "grace@", "", "=?utf-8?q?Gr=C3=A2ce?= <g@example.org>"])
content_types = st.sampled_from(
    [
        "text/plain; charset=utf-8",
        "text/plain; charset=gb2312",
        "text/plain; charset=no-such-charset",
        "text/html; charset=iso-8859-1",
        "application/pdf; name=a.pdf",
        "message/rfc822",
        "multipart/mixed",
        "text/plain; charset=",
    ]
)
encodings = st.sampled_from(["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "binary", "bogus"])


@st.composite
def mails(draw: st.DrawFn) -> bytes:
    lines = [
        f"From: {draw(senders | header_text)}",
        f"To: {SUPPORT}",
        f"Subject: {draw(header_text)}",
        f"Message-ID: <{draw(st.uuids())}@example.org>",
    ]
    depth = draw(st.sampled_from([0, 1, 3]) | st.integers(0, 1500))
    leaf = (
        f"Content-Type: {draw(content_types)}\r\nContent-Transfer-Encoding: {draw(encodings)}\r\n\r\n".encode()
        + draw(st.binary(max_size=300)).replace(b"\r", b"").replace(b"\n.", b"\n..")
        + b"\r\n"
    )
    opening = b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (level, level + 1) for level in range(depth)
    )
    closing = b"".join(b"\r\n--b%d--\r\n" % level for level in reversed(range(depth)))
    head = "\r\n".join(lines).encode("utf-8", "surrogatepass")
    if depth:
        return head + b"\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n" + opening + leaf + closing
    return head + b"\r\n" + leaf


async def test_fuzzed_mail_is_accepted_or_refused_on_purpose(channels: RunningChannels) -> None:
    [adapter] = channels.actions.adapters
    assert isinstance(adapter, EmailAdapter)
    queued = 0

    def fuzz() -> None:
        with smtplib.SMTP("127.0.0.1", adapter.smtp_port, timeout=30) as client:

            @FUZZ
            @given(raw=mails())
            def answered(raw: bytes) -> None:
                nonlocal queued
                try:
                    client.sendmail("bounce@example.org", [SUPPORT], raw)
                except smtplib.SMTPDataError as refused:
                    reason = refused.smtp_error.decode(errors="replace")
                    assert refused.smtp_code != 500 and not reason.startswith("Error"), (refused.smtp_code, reason)
                    client.rset()
                else:
                    queued += 1

            answered()

    await asyncio.to_thread(fuzz)
    stored = await stored_events(channels.nats_url, "inbound.email.*", events_pb2.InboundMessage, at_least=queued)
    assert len(stored) <= queued
