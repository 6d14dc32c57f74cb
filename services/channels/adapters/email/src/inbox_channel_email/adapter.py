"""The email adapter: an SMTP listener for our support addresses, and agents' replies through a relay."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import aiosmtplib
import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session
from inbox.channels.v1 import events_pb2
from inbox.message.v1 import message_pb2
from inbox_channel_sdk import AdapterHost, Capabilities, DeliveryResult, HealthReport, InboundUnavailable
from inbox_channel_sdk.files import FileStore
from inbox_channel_sdk.limits import SenderRateLimited
from inbox_runtime.errors import InvalidInput
from inbox_runtime.timestamps import now_us, stamp_now
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from inbox_channel_email import survey
from inbox_channel_email.compose import build_reply, message_id_from_ours
from inbox_channel_email.parse import UNKNOWN_SENDER_DOMAIN, ParsedEmail, is_valid_address, parse_email
from inbox_channel_email.settings import EmailSettings
from inbox_channel_email.store import EmailRecords, ReceivedMail, open_email_records

log = structlog.get_logger(__name__)

ATTACHMENT_PATH = "/email/attachments/"


def email_item_id(sender: str, email_message_id: str) -> str:
    """One item per sender and Message-ID: a retry is the same item, another sender's mail that reuses the
    Message-ID (a broken client, a spammer) is not."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"email:{sender.lower()}:{email_message_id}"))


# The survey page runs no script and loads nothing; its form posts back to itself.
SURVEY_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class EmailAdapter:
    name = "email"
    channel = "email"
    display_name = "Email"
    capabilities = Capabilities(html=True, attachments=True)

    def __init__(self) -> None:
        self._settings = EmailSettings.from_env()
        self._host: AdapterHost | None = None
        self._store: EmailRecords | None = None
        self._files: FileStore | None = None
        self._server: asyncio.base_events.Server | None = None

    @property
    def smtp_port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def routes(self) -> Sequence[BaseRoute]:
        return [
            Route(ATTACHMENT_PATH + "{digest}", self._attachment, methods=["GET"]),
            Route(survey.SURVEY_PATH + "{token}", self._survey, methods=["GET", "POST"]),
        ]

    async def start(self, host: AdapterHost) -> None:
        self._host = host
        self._store = await open_email_records(host)
        # Attachments and original mails.
        self._files = FileStore(host.data_dir / "email-attachments")
        settings = self._settings
        handler = _SmtpHandler(self)
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _LongLinesSmtp(
                handler,
                data_size_limit=settings.max_message_bytes,
                enable_SMTPUTF8=True,
                hostname=settings.domain,
                ident="inbox",
            ),
            host=settings.bind_host,
            port=settings.smtp_port,
        )
        log.info("smtp_listening", port=self.smtp_port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._store is not None:
            await self._store.close()

    async def health(self) -> HealthReport:
        relay = self._settings.relay_host or "no relay configured"
        return HealthReport(self._server is not None and self._server.is_serving(), f"relay: {relay}")

    # --- inbound -------------------------------------------------------------------------

    def accepts_recipient(self, address: str) -> str:
        """The SMTP answer to RCPT TO: only our support addresses, and never relaying."""
        address = address.lower()
        if address in self._settings.inboxes:
            return "250 OK"
        if address.rpartition("@")[2] in self._settings.domains:
            return "550 5.1.1 No such mailbox here"
        return "554 5.7.1 Relay access denied"

    async def receive(self, recipients: list[str], raw: bytes, envelope_sender: str = "") -> str:
        """Handle one accepted mail; returns the SMTP reply. Fails temporarily (4xx) if it cannot be stored."""
        assert self._host is not None and self._store is not None and self._files is not None
        try:
            parsed = parse_email(raw, self._settings.domain, envelope_sender)
        except RecursionError:
            # Refused on purpose (the sending server bounces it to its author): no mail client nests parts
            # hundreds deep; the parser cannot, and a traceback's "500" said nothing to anyone.
            log.warning("email_refused", reason="mime_nested_too_deeply", size=len(raw))
            return "554 5.6.0 Message refused: its MIME parts are nested too deeply"
        if parsed.automatic:
            await self._handle_automatic(parsed)
            if parsed.automatic == "loop":
                return "250 OK: accepted"  # our own mail come back: nothing for anyone
            # Otherwise kept, flagged, on the conversation it answers (threading drops it if none).
        inbox_address = next((r.lower() for r in recipients if r.lower() in self._settings.inboxes), "")
        item, files = self._inbound(parsed, raw, inbox_address)
        try:
            await self._store.remember_received(
                ReceivedMail(
                    item.message_id,
                    parsed.message_id,
                    parsed.references,
                    parsed.subject,
                    inbox_address,
                    sender=parsed.sender,
                    files=files,
                )
            )
            await self._host.publish_inbound(item)
        except SenderRateLimited:
            log.warning("email_rate_limited")
            return "451 4.7.1 Too many messages from this sender; try again later"
        except Exception as exc:
            log.error("email_not_stored", error=repr(exc))
            return "451 4.3.0 Temporarily unable to accept the message, try again later"
        return "250 OK: queued"

    def _inbound(
        self, parsed: ParsedEmail, raw: bytes, inbox_address: str
    ) -> tuple[events_pb2.InboundMessage, tuple[str, ...]]:
        """The inbound item, its original and attachments saved; and the digests of the files it keeps."""
        assert self._store is not None
        item = events_pb2.InboundMessage(
            message_id=email_item_id(parsed.sender, parsed.message_id),
            inbox_id=self._settings.inboxes.get(inbox_address, "email"),
            # Threading's de-duplication key: the sender's own, like the item id.
            provider_message_id=f"{parsed.sender}:{parsed.message_id}",
            sender=message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_EMAIL, value=parsed.sender),
            sender_name=parsed.sender_name,
            text=parsed.visible_text,
            kind=message_pb2.MESSAGE_KIND_AUTOMATIC if parsed.automatic else message_pb2.MESSAGE_KIND_TEXT,
            metadata={
                "email_message_id": parsed.message_id,
                "in_reply_to": parsed.in_reply_to,
                "references": " ".join(parsed.references),
                "subject": parsed.subject,
                "to": inbox_address,
            },
        )
        if parsed.automatic:
            item.metadata["automatic"] = parsed.automatic
        stamp_now(item.received_at)
        assert self._files is not None
        # The full original (quoted history, signature, headers) stays available to agents.
        original = self._files.save(raw)
        item.metadata["original_url"] = ATTACHMENT_PATH + original
        skipped = []
        for attachment in parsed.attachments:
            if len(attachment.data) > self._settings.max_attachment_bytes:
                skipped.append(attachment.filename)
                continue
            digest = self._files.save(attachment.data)
            item.attachments.add(
                attachment_id=digest,
                filename=attachment.filename,
                content_type=attachment.content_type,
                size_bytes=len(attachment.data),
                url=ATTACHMENT_PATH + digest,
            )
        if skipped:
            item.metadata["attachments_skipped"] = ", ".join(skipped)
        return item, (original, *(a.attachment_id for a in item.attachments))

    async def _handle_automatic(self, parsed: ParsedEmail) -> None:
        assert self._host is not None and self._store is not None
        log.info("email_automatic", reason=parsed.automatic)
        if parsed.automatic != "bounce":
            return
        for email_message_id in parsed.bounced_ids:
            mail_key = message_id_from_ours(email_message_id, self._settings.domain)
            sent = await self._store.sent(mail_key=mail_key) if mail_key else None
            if sent is not None:
                await self._host.report_delivery(
                    sent.message_id, sent.conversation_id, events_pb2.DELIVERY_STATUS_FAILED, "bounced"
                )

    async def _attachment(self, request: Request) -> Response:
        assert self._files is not None
        assert self._host is not None
        if not await self._host.authorized(request.headers.get("authorization"), "channels:read"):
            return PlainTextResponse("an API key with the scope channels:read is required", status_code=401)
        path = self._files.path(request.path_params["digest"])
        if path is None:
            return PlainTextResponse("no such attachment", status_code=404)
        # Served as a download, never rendered: an attachment is customer content.
        return FileResponse(
            path,
            media_type="application/octet-stream",
            headers={"Content-Disposition": "attachment", "X-Content-Type-Options": "nosniff"},
        )

    # --- outbound ------------------------------------------------------------------------

    async def erase(self, contacts: Sequence[message_pb2.ContactPoint]) -> int:
        """The customer's mails are forgotten, and their originals and attachments deleted (unless another
        sender's mail holds the same bytes)."""
        assert self._store is not None and self._files is not None
        senders = [c.value for c in contacts if c.kind == message_pb2.CONTACT_POINT_KIND_EMAIL]
        if not senders:
            return 0
        removed, unused = await self._store.erase_senders(senders)
        for digest in unused:
            self._files.delete(digest)
        return removed

    def normalise_contact(self, contact: message_pb2.ContactPoint) -> message_pb2.ContactPoint:
        address = contact.value.strip().lower()
        if contact.kind != message_pb2.CONTACT_POINT_KIND_EMAIL or not is_valid_address(address):
            raise InvalidInput("an email recipient must be an email address")
        return message_pb2.ContactPoint(kind=contact.kind, value=address)

    async def _survey(self, request: Request) -> Response:
        """The one-click survey page: the score a link chose, a comment, and Send (which records it)."""
        assert self._host is not None
        secret = self._settings.survey_secret
        ticket = survey.verify(secret, request.path_params["token"]) if secret else None
        if ticket is None:
            return HTMLResponse(survey.UNKNOWN_PAGE, 404, headers=SURVEY_PAGE_HEADERS)
        token = request.path_params["token"]
        if request.method == "GET":
            score = survey.chosen_score(request.query_params.get("score"))
            return HTMLResponse(survey.form_page(token, score), headers=SURVEY_PAGE_HEADERS)
        form = await request.form()
        score = survey.chosen_score(str(form.get("score", "")))
        comment = " ".join(str(form.get("comment", "")).split())
        if not score or len(comment) > survey.MAX_COMMENT:
            page = survey.form_page(
                token, score, f"Choose a score from 1 to {survey.SCALE}, and at most 2000 characters."
            )
            return HTMLResponse(page, 400, headers=SURVEY_PAGE_HEADERS)
        answer = events_pb2.InboundMessage(
            message_id=email_item_id(ticket.recipient, f"survey:{ticket.survey_id}"),
            inbox_id=ticket.inbox_id,
            provider_message_id=f"{ticket.recipient}:survey:{ticket.survey_id}",
            sender=message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_EMAIL, value=ticket.recipient),
            text=comment,
            kind=message_pb2.MESSAGE_KIND_FEEDBACK,
        )
        answer.metadata.update(satisfaction_score=str(score), satisfaction_survey=ticket.survey_id)
        stamp_now(answer.received_at)
        answer.sent_at.CopyFrom(answer.received_at)
        try:
            await self._host.publish_inbound(answer)
        except InboundUnavailable:
            page = survey.form_page(token, score, "We could not take your answer just now: please send it again.")
            return HTMLResponse(page, 503, headers=SURVEY_PAGE_HEADERS)
        log.info("survey_answer_accepted", message_id=answer.message_id)
        return HTMLResponse(survey.THANKS_PAGE, headers=SURVEY_PAGE_HEADERS)

    async def deliver(self, message: events_pb2.OutboundMessage) -> DeliveryResult:
        assert self._store is not None
        settings = self._settings
        if message.recipient.kind != message_pb2.CONTACT_POINT_KIND_EMAIL:
            return DeliveryResult(events_pb2.DELIVERY_STATUS_FAILED, "recipient is not an email address")
        if message.recipient.value.endswith("@" + UNKNOWN_SENDER_DOMAIN):
            reason = "the sender of this mail is unknown: merge the customer into the right one, or add their address"
            return DeliveryResult(events_pb2.DELIVERY_STATUS_FAILED, reason)
        if not settings.relay_host:
            return DeliveryResult(events_pb2.DELIVERY_STATUS_FAILED, "no outbound relay configured")
        if await self._store.sent(message_id=message.message_id) is not None:
            return DeliveryResult(events_pb2.DELIVERY_STATUS_SENT, "already sent")
        context, inbox_address = await self._store.reply_context(message.in_reply_to_message_id)
        from_address = inbox_address or next(
            (a for a, inbox in settings.inboxes.items() if inbox == message.inbox_id), next(iter(settings.inboxes))
        )
        # The Message-ID carries the idempotency key: a resent copy is the same mail to every client.
        mail_key = message.idempotency_key or message.message_id
        text = message.text
        if message.metadata.get("survey") == "satisfaction" and settings.public_base_url and settings.survey_secret:
            ticket = survey.SurveyTicket(message.message_id, message.recipient.value, message.inbox_id)
            text += "\n" + survey.links_block(settings.public_base_url, survey.sign(settings.survey_secret, ticket))
        mail = build_reply(
            message_id=mail_key,
            domain=settings.domain,
            from_address=from_address,
            from_name=settings.from_name,
            to_address=message.recipient.value,
            text=text,
            context=context,
        )
        options: dict[str, Any] = {"hostname": settings.relay_host, "port": settings.relay_port}
        if settings.relay_username:
            options.update(username=settings.relay_username, password=settings.relay_password)
        options["start_tls"] = settings.relay_starttls
        try:
            await aiosmtplib.send(mail, **options)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return DeliveryResult(events_pb2.DELIVERY_STATUS_FAILED, f"relay refused the recipient: {exc}")
        # Recorded after the relay took it. A crash in between resends with the same Message-ID,
        # which mail clients show once.
        await self._store.mark_sent(message.message_id, message.conversation_id, mail_key, now_us())
        return DeliveryResult(events_pb2.DELIVERY_STATUS_SENT, "accepted by the relay")


class _LongLinesSmtp(SMTP):
    """RFC 5321 caps a line at 1,000 octets, but real mail breaks it (an HTML body on one 28,000-character
    line): refusing such a mail loses it, so lines are taken up to 1 MiB (the size limit still applies)."""

    line_length_limit = 1024 * 1024


class _SmtpHandler:
    """aiosmtpd's hooks, delegating to the adapter."""

    def __init__(self, adapter: EmailAdapter) -> None:
        self._adapter = adapter

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        answer = self._adapter.accepts_recipient(address)
        if answer.startswith("250"):
            envelope.rcpt_tos.append(address)
        return answer

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        return await self._adapter.receive(list(envelope.rcpt_tos), raw, envelope.mail_from or "")
