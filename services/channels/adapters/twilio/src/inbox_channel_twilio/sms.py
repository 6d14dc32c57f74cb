"""SMS over a Twilio-compatible provider: inbound webhook, opt-out keywords, outbound with status callbacks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from xml.sax.saxutils import escape

import structlog
from inbox.channels.v1 import events_pb2
from inbox.message.v1 import message_pb2
from inbox_channel_sdk import AdapterHost, Capabilities, DeliveryResult, HealthReport
from inbox_channel_sdk.webhooks import WebhookRejected, require, webhook, whole_number
from inbox_runtime.config import env
from inbox_runtime.errors import InvalidInput
from inbox_runtime.timestamps import now_us, stamp_now
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from inbox_channel_twilio.rest import ProviderError, TwilioRest
from inbox_channel_twilio.settings import TwilioSettings
from inbox_channel_twilio.store import ProviderItem, TwilioRecords, open_twilio_records
from inbox_channel_twilio.texts import Keyword, keyword_of, segments, to_e164
from inbox_channel_twilio.webhook_auth import twiml, verified_fields

log = structlog.get_logger(__name__)

MAX_SMS_LENGTH = 1600  # Twilio's limit for one message body (it splits into segments itself)
MAX_MEDIA = 10  # Twilio's limit per message

# Twilio MessageStatus -> ours.
STATUS_MAP: dict[str, events_pb2.DeliveryStatus.ValueType] = {
    "accepted": events_pb2.DELIVERY_STATUS_QUEUED,
    "scheduled": events_pb2.DELIVERY_STATUS_QUEUED,
    "queued": events_pb2.DELIVERY_STATUS_QUEUED,
    "sending": events_pb2.DELIVERY_STATUS_SENT,
    "sent": events_pb2.DELIVERY_STATUS_SENT,
    "delivered": events_pb2.DELIVERY_STATUS_DELIVERED,
    "read": events_pb2.DELIVERY_STATUS_READ,
    "failed": events_pb2.DELIVERY_STATUS_FAILED,
    "undelivered": events_pb2.DELIVERY_STATUS_FAILED,
    "canceled": events_pb2.DELIVERY_STATUS_FAILED,
}


def sms_message_id(message_sid: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sms:{message_sid}"))


class SmsAdapter:
    name = "sms"
    channel = "sms"
    display_name = "SMS"
    capabilities = Capabilities(max_text_length=MAX_SMS_LENGTH, attachments=True)

    def __init__(self) -> None:
        self._settings = TwilioSettings.from_env()
        self._help_text = env(
            "CHANNELS_SMS_HELP_TEXT", str, "Reply with your question and an agent will answer. Reply STOP to opt out."
        )
        self._host: AdapterHost | None = None
        self._store: TwilioRecords | None = None
        self._rest: TwilioRest | None = None

    def routes(self) -> Sequence[BaseRoute]:
        return [
            Route("/webhooks/sms", webhook(self._inbound), methods=["POST"]),
            Route("/webhooks/sms/status", webhook(self._status), methods=["POST"]),
        ]

    async def start(self, host: AdapterHost) -> None:
        self._host = host
        self._store = await open_twilio_records(host, "sms")
        self._rest = TwilioRest(self._settings)

    async def erase(self, contacts: Sequence[message_pb2.ContactPoint]) -> int:
        """An erased customer's numbers leave the opt-out records."""
        assert self._store is not None
        numbers = [c.value for c in contacts if c.kind == message_pb2.CONTACT_POINT_KIND_PHONE]
        return await self._store.erase_numbers(numbers) if numbers else 0

    async def stop(self) -> None:
        if self._rest is not None:
            await self._rest.close()
        if self._store is not None:
            await self._store.close()

    async def health(self) -> HealthReport:
        return HealthReport(self._store is not None, f"{len(self._settings.numbers)} numbers")

    async def _inbound(self, request: Request) -> Response:
        assert self._host is not None and self._store is not None
        fields = await verified_fields(request, self._settings)
        require(fields, "MessageSid", "From", "To")
        try:
            sender = to_e164(fields["From"], self._settings.default_region)
            to = to_e164(fields["To"], self._settings.default_region)
        except InvalidInput as exc:
            raise WebhookRejected(400, str(exc)) from None
        inbox_id = self._settings.numbers.get(to)
        if inbox_id is None:
            raise WebhookRejected(400, "To is not one of our numbers")
        body = fields.get("Body", "")
        keyword = keyword_of(body)
        contact = message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_PHONE, value=sender)
        if keyword is Keyword.OPT_OUT:
            await self._store.set_opt_out(sender, body.strip().upper(), now_us())
            await self._host.announce_opt_out(contact, True, body.strip().upper())
            return twiml()
        if keyword is Keyword.OPT_IN:
            await self._store.clear_opt_out(sender)
            await self._host.announce_opt_out(contact, False, body.strip().upper())
            return twiml()
        if keyword is Keyword.HELP:
            help_reply = f"<Message>{escape(self._help_text)}</Message>"
            return twiml(f'<?xml version="1.0" encoding="UTF-8"?><Response>{help_reply}</Response>')
        inbound = events_pb2.InboundMessage(
            message_id=sms_message_id(fields["MessageSid"]),
            inbox_id=inbox_id,
            provider_message_id=fields["MessageSid"],
            sender=contact,
            text=body,
            kind=message_pb2.MESSAGE_KIND_TEXT,
            metadata={"to": to, "num_segments": fields.get("NumSegments", "1")},
        )
        stamp_now(inbound.received_at)
        media_count = whole_number(fields, "NumMedia", MAX_MEDIA)
        for index in range(media_count):
            url = fields.get(f"MediaUrl{index}")
            if url:
                inbound.attachments.add(
                    attachment_id=f"{fields['MessageSid']}-{index}",
                    content_type=fields.get(f"MediaContentType{index}", "application/octet-stream"),
                    url=url,
                )
        await self._host.publish_inbound(inbound)
        return twiml()

    async def _status(self, request: Request) -> Response:
        assert self._host is not None and self._store is not None
        fields = await verified_fields(request, self._settings)
        require(fields, "MessageSid", "MessageStatus")
        status = STATUS_MAP.get(fields["MessageStatus"])
        if status is None:
            raise WebhookRejected(400, f"unknown MessageStatus {fields['MessageStatus']!r}")
        item = await self._store.by_sid(fields["MessageSid"])
        if item is None:
            # Not one of ours (or sent before this store existed): acknowledge so Twilio stops retrying.
            log.warning("sms_status_for_unknown_message")
            return twiml()
        detail = fields.get("ErrorCode", "")
        await self._host.report_delivery(
            item.message_id, item.conversation_id, status, f"error {detail}" if detail else ""
        )
        return twiml()

    def normalise_contact(self, contact: message_pb2.ContactPoint) -> message_pb2.ContactPoint:
        if contact.kind != message_pb2.CONTACT_POINT_KIND_PHONE:
            raise InvalidInput("an SMS recipient must be a phone number")
        return message_pb2.ContactPoint(kind=contact.kind, value=to_e164(contact.value, self._settings.default_region))

    async def is_opted_out(self, contact: message_pb2.ContactPoint) -> bool:
        assert self._store is not None
        try:
            number = to_e164(contact.value, self._settings.default_region)
        except InvalidInput:
            return False
        return await self._store.is_opted_out(number)

    async def deliver(self, message: events_pb2.OutboundMessage) -> DeliveryResult:
        assert self._store is not None and self._rest is not None
        if message.recipient.kind != message_pb2.CONTACT_POINT_KIND_PHONE:
            return DeliveryResult(events_pb2.DELIVERY_STATUS_FAILED, "recipient is not a phone number")
        try:
            to = to_e164(message.recipient.value, self._settings.default_region)
        except InvalidInput as exc:
            return DeliveryResult(events_pb2.DELIVERY_STATUS_FAILED, str(exc))
        if await self._store.is_opted_out(to):
            return DeliveryResult(events_pb2.DELIVERY_STATUS_FAILED, "the customer opted out of SMS (replied STOP)")
        if len(message.text) > MAX_SMS_LENGTH:
            return DeliveryResult(events_pb2.DELIVERY_STATUS_FAILED, f"longer than {MAX_SMS_LENGTH} characters")
        if await self._store.by_message(message.message_id) is not None:
            return DeliveryResult(events_pb2.DELIVERY_STATUS_QUEUED, "already handed to the provider")
        from_number = self._number_for(message.inbox_id)
        try:
            created = await self._rest.send_message(
                to=to,
                from_=from_number,
                body=message.text,
                status_callback=f"{self._settings.public_base_url}/webhooks/sms/status",
                idempotency_key=message.idempotency_key or message.message_id,
            )
        except ProviderError as exc:
            return DeliveryResult(events_pb2.DELIVERY_STATUS_FAILED, str(exc))
        await self._store.remember(
            ProviderItem(message.message_id, created.sid, message.conversation_id), "sms", now_us()
        )
        encoding, count = segments(message.text)
        return DeliveryResult(
            STATUS_MAP.get(created.status, events_pb2.DELIVERY_STATUS_QUEUED), f"{count} segment(s), {encoding}"
        )

    def _number_for(self, inbox_id: str) -> str:
        for number, inbox in self._settings.numbers.items():
            if inbox == inbox_id:
                return number
        return self._settings.first_number
