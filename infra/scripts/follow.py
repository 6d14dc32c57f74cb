"""Follow everything that happens, as an integrator would: `python infra/scripts/follow.py [host:port]`.

Prints each event of ConversationService.WatchEvents as it is stored (subject, conversation, payload) and
keeps the last cursor in var/follow-cursor, so running it again goes on where it stopped, nothing missed
or repeated. Uses the operator's key that `make run` writes (var/secrets/operator.key).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

from google.protobuf.json_format import MessageToDict
from inbox.conversations.v1 import conversation_service_pb2 as pb
from inbox.conversations.v1 import conversation_service_pb2_grpc as rpc
from inbox_events import payload_of
from inbox_runtime.grpc_client import authenticated_channel

VAR = Path(__file__).resolve().parents[2] / "var"
CURSOR_FILE = VAR / "follow-cursor"
KEY_FILE = VAR / "secrets" / "operator.key"


async def main(target: str) -> None:
    cursor = CURSOR_FILE.read_text().strip() if CURSOR_FILE.exists() else ""
    async with authenticated_channel(target, KEY_FILE.read_text().strip()) as channel:
        feed = rpc.ConversationServiceStub(channel).WatchEvents(pb.WatchEventsRequest(cursor=cursor))
        await feed.initial_metadata()
        print(f"following {'from the saved cursor' if cursor else 'from now'}; Ctrl-C stops", flush=True)
        async for event in feed:
            payload = payload_of(event.envelope)
            shown = MessageToDict(payload, preserving_proto_field_name=True) if payload is not None else {}
            print(f"{event.subject:<32} {event.conversation_id or '-':<36} {shown}", flush=True)
            CURSOR_FILE.write_text(event.cursor)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops
        asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"))
