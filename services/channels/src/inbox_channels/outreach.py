"""Contact pressure before a proactive message: threading's OutreachService knows the customer (open
complaints, scores, mood, what they were sent lately) and the tenant's rules; channels asks it each time."""

from __future__ import annotations

import grpc
from inbox.conversations.v1 import outreach_service_pb2, outreach_service_pb2_grpc
from inbox.message.v1 import message_pb2
from inbox_runtime.errors import FailedPrecondition, Unavailable

CHECK_TIMEOUT_SECONDS = 5.0


class OutreachGate:
    def __init__(self, stub: outreach_service_pb2_grpc.OutreachServiceAsyncStub) -> None:
        self._stub = stub

    async def require_allowed(
        self, recipient: message_pb2.ContactPoint, channel: str, kind: int, tenant_id: str
    ) -> None:
        """FailedPrecondition naming the rule that holds the message back; Unavailable when the rules could
        not be read (the message is not sent unchecked)."""
        request = outreach_service_pb2.CheckOutreachRequest(
            recipient=recipient,
            channel_name=channel,
            kind=kind,  # type: ignore[arg-type]
            tenant_id=tenant_id,
        )
        try:
            reply = await self._stub.CheckOutreach(request, timeout=CHECK_TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND):
                raise FailedPrecondition(f"contact pressure: {exc.details()}") from None
            raise Unavailable(
                f"the contact-pressure rules could not be checked ({exc.code().name}): try again"
            ) from None
        if not reply.allowed:
            raise FailedPrecondition(f"held back by contact pressure ({reply.rule}): {reply.reason}")
