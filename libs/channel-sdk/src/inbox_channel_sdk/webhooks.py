"""Reading provider webhooks safely: a size limit (413), form parsing (400), a sender writing too fast
(429 with Retry-After), the broker unreachable (503 with Retry-After), clear plain-text errors.

Invariant: a rejected webhook changes nothing. Adapters verify the signature before they store or
publish anything, and raise `WebhookRejected` for anything they will not accept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response

from inbox_channel_sdk.adapter import InboundUnavailable
from inbox_channel_sdk.limits import SenderRateLimited

log = structlog.get_logger(__name__)

MAX_WEBHOOK_BYTES = 1 << 20


class WebhookRejected(Exception):
    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


async def read_body(request: Request, limit: int = MAX_WEBHOOK_BYTES) -> bytes:
    """The request body, refusing (413) anything over `limit` before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise WebhookRejected(400, "invalid Content-Length")
        if int(declared) > limit:
            raise WebhookRejected(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise WebhookRejected(413, f"body larger than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise WebhookRejected(400, "client disconnected") from None
    return b"".join(chunks)


def parse_form(request: Request, body: bytes) -> list[tuple[str, str]]:
    """application/x-www-form-urlencoded fields, in order, or 400 with the reason."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise WebhookRejected(400, "expected application/x-www-form-urlencoded")
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise WebhookRejected(400, "form is not UTF-8") from None


def whole_number(fields: dict[str, str], name: str, maximum: int, default: int = 0) -> int:
    """A field holding a count or a duration: absent or empty is `default`; anything but 0..`maximum` in
    ASCII digits is a 400 naming the field."""
    raw = fields.get(name, "")
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) > maximum:
        raise WebhookRejected(400, f"{name} must be a whole number from 0 to {maximum}")
    return int(raw)


def require(fields: dict[str, str], *names: str) -> None:
    missing = [name for name in names if not fields.get(name)]
    if missing:
        raise WebhookRejected(400, f"missing fields: {', '.join(missing)}")


def webhook(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Turn `WebhookRejected` into its status code with a plain-text reason; log it without the body."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except WebhookRejected as exc:
            log.warning("webhook_rejected", path=request.url.path, status=exc.status_code, reason=exc.detail)
            return PlainTextResponse(exc.detail, status_code=exc.status_code)
        except SenderRateLimited as limited:
            log.warning("webhook_rate_limited", path=request.url.path, retry_after=limited.retry_after_seconds)
            return PlainTextResponse(
                str(limited), status_code=429, headers={"retry-after": str(limited.retry_after_seconds)}
            )
        except InboundUnavailable as unavailable:
            log.warning("webhook_not_stored", path=request.url.path, reason=str(unavailable))
            return PlainTextResponse(
                str(unavailable), status_code=503, headers={"retry-after": str(unavailable.retry_after_seconds)}
            )

    return endpoint
