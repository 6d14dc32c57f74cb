"""Read and authenticate a Twilio webhook: size limit, form, X-Twilio-Signature. Shared by SMS and voice."""

from __future__ import annotations

from inbox_channel_sdk.webhooks import WebhookRejected, parse_form, read_body
from starlette.requests import Request
from starlette.responses import Response

from inbox_channel_twilio.settings import TwilioSettings
from inbox_channel_twilio.signature import is_valid_signature

TWIML_CONTENT_TYPE = "application/xml"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


async def verified_fields(request: Request, settings: TwilioSettings) -> dict[str, str]:
    """The webhook's fields, only if Twilio signed exactly them for our public URL of this path."""
    body = await read_body(request)
    signature = request.headers.get("x-twilio-signature", "")
    if not signature:
        raise WebhookRejected(403, "missing X-Twilio-Signature")
    pairs = parse_form(request, body)
    url = settings.public_base_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    if not is_valid_signature(settings.auth_token, url, pairs, signature):
        raise WebhookRejected(403, "invalid X-Twilio-Signature")
    return dict(pairs)


def twiml(xml: str = EMPTY_TWIML) -> Response:
    return Response(xml, media_type=TWIML_CONTENT_TYPE)
