"""Phone over a Twilio-compatible provider: answer calls with TwiML, turn call progress and voicemail
into timeline items of the caller's thread, and place agent call-backs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlencode
from xml.sax.saxutils import escape, quoteattr

import structlog
from inbox.channels.v1 import events_pb2
from inbox.message.v1 import message_pb2
from inbox_channel_sdk import AdapterHost, CallbackStarted, Capabilities, DeliveryResult, HealthReport
from inbox_channel_sdk.webhooks import WebhookRejected, require, webhook, whole_number
from inbox_runtime.config import env
from inbox_runtime.errors import FailedPrecondition, InvalidInput
from inbox_runtime.timestamps import stamp_now
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from inbox_channel_twilio.hours import BusinessHours, parse_hours
from inbox_channel_twilio.rest import ProviderError, TwilioRest
from inbox_channel_twilio.settings import TwilioSettings
from inbox_channel_twilio.texts import to_e164
from inbox_channel_twilio.webhook_auth import twiml, verified_fields

log = structlog.get_logger(__name__)

MAX_CALL_SECONDS = 24 * 3600  # Twilio ends any call after a day
MISSED_STATUSES = {"no-answer", "busy", "failed", "canceled"}
CALL_STATUSES = {"queued", "initiated", "ringing", "in-progress", "completed", *MISSED_STATUSES}


def call_item_id(call_sid: str, what: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"voice:{call_sid}:{what}"))


def describe_call(status: str, duration_seconds: int) -> str:
    if status == "completed":
        minutes, seconds = divmod(duration_seconds, 60)
        return f"Call completed ({minutes} min {seconds} s)" if minutes else f"Call completed ({seconds} s)"
    return {
        "queued": "Call queued",
        "initiated": "Call started",
        "ringing": "Call ringing",
        "in-progress": "Call answered",
        "no-answer": "Missed call (no answer)",
        "busy": "Missed call (busy)",
        "failed": "Call failed",
        "canceled": "Call canceled",
    }[status]


def answer_twiml(*, open_now: bool, greeting: str, closed_message: str, queue: str, base_url: str) -> str:
    """What the caller hears: greeting and the queue in hours, else the voicemail prompt and a recording."""
    if open_now:
        body = f"<Say>{escape(greeting)}</Say><Enqueue>{escape(queue)}</Enqueue>"
    else:
        transcribe_url = quoteattr(f"{base_url}/webhooks/voice/transcription")
        recording_url = quoteattr(f"{base_url}/webhooks/voice/recording")
        body = (
            f"<Say>{escape(closed_message)}</Say>"
            f'<Record maxLength="120" playBeep="true" transcribe="true" transcribeCallback={transcribe_url} '
            f"recordingStatusCallback={recording_url}/><Hangup/>"
        )
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'


class VoiceAdapter:
    name = "voice"
    channel = "voice"
    display_name = "Phone"
    capabilities = Capabilities(text_replies=False)

    def __init__(self) -> None:
        self._settings = TwilioSettings.from_env()
        self._greeting = env("CHANNELS_VOICE_GREETING", str, "Thank you for calling. Please hold for the next agent.")
        self._closed_message = env(
            "CHANNELS_VOICE_CLOSED_MESSAGE",
            str,
            "We are closed right now. Please leave a message after the tone and we will call you back.",
        )
        self._queue = env("CHANNELS_VOICE_QUEUE", str, "support")
        self._hours: BusinessHours = parse_hours(
            env("CHANNELS_VOICE_HOURS", str, ""), env("CHANNELS_VOICE_TIMEZONE", str, "UTC")
        )
        self._host: AdapterHost | None = None
        self._rest: TwilioRest | None = None

    def routes(self) -> Sequence[BaseRoute]:
        return [
            Route("/webhooks/voice", webhook(self._incoming), methods=["POST"]),
            Route("/webhooks/voice/status", webhook(self._call_status), methods=["POST"]),
            Route("/webhooks/voice/recording", webhook(self._recording), methods=["POST"]),
            Route("/webhooks/voice/transcription", webhook(self._transcription), methods=["POST"]),
            Route("/webhooks/voice/connect-agent", webhook(self._connect_agent), methods=["POST"]),
        ]

    async def start(self, host: AdapterHost) -> None:
        self._host = host
        self._rest = TwilioRest(self._settings)

    async def stop(self) -> None:
        if self._rest is not None:
            await self._rest.close()

    async def health(self) -> HealthReport:
        open_now = self._hours.is_open(datetime.now(UTC))
        return HealthReport(self._rest is not None, "open" if open_now else "out of hours")

    async def deliver(self, message: events_pb2.OutboundMessage) -> DeliveryResult:
        # A text reply cannot be "said" to a caller after the fact; agents answer callers by call-back.
        return DeliveryResult(
            events_pb2.DELIVERY_STATUS_FAILED, "the phone channel takes no text replies; start a call-back instead"
        )

    def _caller(self, fields: dict[str, str], field: str = "From") -> tuple[message_pb2.ContactPoint, str]:
        try:
            number = to_e164(fields[field], self._settings.default_region)
        except InvalidInput as exc:
            raise WebhookRejected(400, str(exc)) from None
        return message_pb2.ContactPoint(kind=message_pb2.CONTACT_POINT_KIND_PHONE, value=number), number

    def _inbox_of(self, fields: dict[str, str], field: str = "To") -> str:
        try:
            ours = to_e164(fields.get(field, ""), self._settings.default_region)
        except InvalidInput:
            ours = ""
        return self._settings.numbers.get(ours, "phone")

    async def _publish(
        self,
        *,
        item_id: str,
        provider_id: str,
        contact: message_pb2.ContactPoint,
        inbox_id: str,
        kind: message_pb2.MessageKind.ValueType,
        text: str,
        metadata: dict[str, str],
        attachment: message_pb2.Attachment | None = None,
    ) -> None:
        assert self._host is not None
        inbound = events_pb2.InboundMessage(
            message_id=item_id,
            inbox_id=inbox_id,
            provider_message_id=provider_id,
            sender=contact,
            text=text,
            kind=kind,
            metadata=metadata,
        )
        stamp_now(inbound.received_at)
        if attachment is not None:
            inbound.attachments.append(attachment)
        await self._host.publish_inbound(inbound)

    async def _incoming(self, request: Request) -> Response:
        fields = await verified_fields(request, self._settings)
        require(fields, "CallSid", "From", "To")
        contact, _ = self._caller(fields)
        open_now = self._hours.is_open(datetime.now(UTC))
        await self._publish(
            item_id=call_item_id(fields["CallSid"], "incoming"),
            provider_id=f"{fields['CallSid']}:incoming",
            contact=contact,
            inbox_id=self._inbox_of(fields),
            kind=message_pb2.MESSAGE_KIND_CALL_EVENT,
            text="Incoming call" if open_now else "Incoming call out of hours (voicemail offered)",
            metadata={"call_sid": fields["CallSid"], "call_status": "ringing", "direction": "inbound"},
        )
        return twiml(
            answer_twiml(
                open_now=open_now,
                greeting=self._greeting,
                closed_message=self._closed_message,
                queue=self._queue,
                base_url=self._settings.public_base_url,
            )
        )

    async def _call_status(self, request: Request) -> Response:
        fields = await verified_fields(request, self._settings)
        require(fields, "CallSid", "CallStatus", "From", "To")
        status = fields["CallStatus"]
        if status not in CALL_STATUSES:
            raise WebhookRejected(400, f"unknown CallStatus {status!r}")
        outbound = fields.get("Direction", "inbound").startswith("outbound")
        # The customer is the caller of an inbound call and the callee of a call-back.
        contact, _ = self._caller(fields, "To" if outbound else "From")
        inbox_id = self._inbox_of(fields, "From" if outbound else "To")
        duration = whole_number(fields, "CallDuration", MAX_CALL_SECONDS)
        missed = status in MISSED_STATUSES and not outbound
        await self._publish(
            item_id=call_item_id(fields["CallSid"], status),
            provider_id=f"{fields['CallSid']}:{status}",
            contact=contact,
            inbox_id=inbox_id,
            kind=message_pb2.MESSAGE_KIND_MISSED_CALL if missed else message_pb2.MESSAGE_KIND_CALL_EVENT,
            text=describe_call(status, duration),
            metadata={
                "call_sid": fields["CallSid"],
                "call_status": status,
                "duration_seconds": str(duration),
                "direction": "outbound" if outbound else "inbound",
            },
        )
        return twiml()

    async def _recording(self, request: Request) -> Response:
        fields = await verified_fields(request, self._settings)
        require(fields, "CallSid", "RecordingSid")
        # The voicemail is published with its transcription (or the news that there is none).
        log.info("voicemail_recorded", recording_sid=fields["RecordingSid"])
        return twiml()

    async def _transcription(self, request: Request) -> Response:
        fields = await verified_fields(request, self._settings)
        require(fields, "CallSid", "RecordingSid", "RecordingUrl", "From", "To")
        contact, _ = self._caller(fields)
        transcribed = fields.get("TranscriptionStatus") == "completed" and fields.get("TranscriptionText")
        await self._publish(
            item_id=call_item_id(fields["CallSid"], "voicemail"),
            provider_id=f"{fields['RecordingSid']}:voicemail",
            contact=contact,
            inbox_id=self._inbox_of(fields),
            kind=message_pb2.MESSAGE_KIND_VOICEMAIL,
            text=fields["TranscriptionText"] if transcribed else "Voicemail (no transcription available)",
            metadata={"call_sid": fields["CallSid"], "recording_sid": fields["RecordingSid"]},
            attachment=message_pb2.Attachment(
                attachment_id=fields["RecordingSid"],
                filename="voicemail.mp3",
                content_type="audio/mpeg",
                url=fields["RecordingUrl"] + ".mp3",
            ),
        )
        return twiml()

    async def _connect_agent(self, request: Request) -> Response:
        """TwiML for a call-back the customer answered: connect the agent's phone."""
        fields = await verified_fields(request, self._settings)
        try:
            agent_number = to_e164(request.query_params.get("agent", ""), self._settings.default_region)
        except InvalidInput as exc:
            raise WebhookRejected(400, str(exc)) from None
        caller_id = quoteattr(fields.get("From", self._settings.first_number))
        return twiml(
            f'<?xml version="1.0" encoding="UTF-8"?><Response><Dial callerId={caller_id}>'
            f"<Number>{escape(agent_number)}</Number></Dial></Response>"
        )

    async def start_callback(
        self, *, customer_number: str, agent_number: str, inbox_id: str, idempotency_key: str
    ) -> CallbackStarted:
        """Call the customer; when they answer, Twilio fetches connect-agent and dials the agent."""
        assert self._rest is not None
        customer = to_e164(customer_number, self._settings.default_region)
        agent = to_e164(agent_number, self._settings.default_region)
        from_number = next((n for n, i in self._settings.numbers.items() if i == inbox_id), self._settings.first_number)
        base = self._settings.public_base_url
        try:
            created = await self._rest.create_call(
                to=customer,
                from_=from_number,
                twiml_url=f"{base}/webhooks/voice/connect-agent?{urlencode({'agent': agent})}",
                status_callback=f"{base}/webhooks/voice/status",
                idempotency_key=idempotency_key,
            )
        except ProviderError as exc:
            raise FailedPrecondition(str(exc)) from None
        return CallbackStarted(created.sid, created.status, customer)
