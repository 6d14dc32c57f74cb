"""inbox.conversations.v1.OutreachService: contact pressure and nudges (see `outreach_actions`)."""

from __future__ import annotations

import json
from typing import Any

import grpc
from inbox.conversations.v1 import outreach_service_pb2 as pb
from inbox.conversations.v1 import outreach_service_pb2_grpc as pb_grpc
from inbox_events.channels import channel_fields
from inbox_runtime.callers import current_caller
from inbox_runtime.errors import InvalidInput
from inbox_runtime.grpc_server import ServiceRegistration, translate_errors
from inbox_runtime.untrusted import parse_json

from inbox_threading.domain import require_supervisor_or_integrator
from inbox_threading.outreach import OutreachKind
from inbox_threading.outreach_actions import OutreachActions
from inbox_threading.protos import contact_from_proto

Context = grpc.aio.ServicerContext[Any, Any]


def outreach_kind(value: int) -> OutreachKind:
    """UNSPECIFIED counts as promotional: a message nobody said was asked for is held to every rule."""
    if value == 0:
        return OutreachKind.PROMOTIONAL
    try:
        return OutreachKind(value)
    except ValueError:
        raise InvalidInput(f"unknown outreach kind {value}") from None


class OutreachApi(pb_grpc.OutreachServiceServicer):
    def __init__(self, actions: OutreachActions) -> None:
        self._actions = actions

    @translate_errors
    async def CheckOutreach(self, request: pb.CheckOutreachRequest, context: Context) -> pb.CheckOutreachResponse:
        held, customer_id = await self._actions.check(
            contact_from_proto(request.recipient), outreach_kind(request.kind), request.tenant_id
        )
        if held is None:
            return pb.CheckOutreachResponse(allowed=True, customer_id=customer_id)
        return pb.CheckOutreachResponse(allowed=False, rule=held.rule, reason=held.reason, customer_id=customer_id)

    @translate_errors
    async def RecordEngagement(
        self, request: pb.RecordEngagementRequest, context: Context
    ) -> pb.RecordEngagementResponse:
        customer_id, sent = await self._actions.record_engagement(
            event_id=request.event_id,
            event_type=request.event_type,
            customer_id=request.customer_id,
            contact=contact_from_proto(request.contact) if request.contact.value else None,
            attributes=dict(request.attributes),
            tenant_id=request.tenant_id,
        )
        return pb.RecordEngagementResponse(
            customer_id=customer_id,
            nudges=[
                pb.Nudge(
                    rule_id=n.rule_id,
                    message_id=n.message.message_id,
                    conversation_id=n.message.conversation_id,
                    channel_name=channel_fields(n.message.channel)["channel_name"],
                    text=n.message.text,
                )
                for n in sent
            ],
        )

    @translate_errors
    async def GetOutreachPolicy(
        self, request: pb.GetOutreachPolicyRequest, context: Context
    ) -> pb.GetOutreachPolicyResponse:
        policy, version = await self._actions.policy(request.tenant_id)
        return pb.GetOutreachPolicyResponse(
            document=json.dumps(policy.document(), indent=2, sort_keys=True), version=version
        )

    @translate_errors
    async def UpdateOutreachPolicy(
        self, request: pb.UpdateOutreachPolicyRequest, context: Context
    ) -> pb.UpdateOutreachPolicyResponse:
        require_supervisor_or_integrator(current_caller(), "changing outreach rules")
        document = parse_json(request.document)
        if not isinstance(document, dict):
            raise InvalidInput("document must be a JSON object")
        return pb.UpdateOutreachPolicyResponse(version=await self._actions.update_policy(request.tenant_id, document))


def registration(actions: OutreachActions) -> ServiceRegistration:
    return ServiceRegistration(
        full_name=pb.DESCRIPTOR.services_by_name["OutreachService"].full_name,
        servicer=OutreachApi(actions),
        add_to_server=pb_grpc.add_OutreachServiceServicer_to_server,
    )
