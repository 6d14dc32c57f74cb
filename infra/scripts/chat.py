"""A customer's chat from the terminal: `python infra/scripts/chat.py [ws://host:8081/chat/ws]`.

Type a line to send it; agents' replies are printed as they arrive. The visitor token is kept in
var/chat-visitor-token, so running it again resumes the same customer and receives missed replies.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path

import websockets

TOKEN_FILE = Path(__file__).resolve().parents[2] / "var" / "chat-visitor-token"


async def main(url: str) -> None:
    token = TOKEN_FILE.read_text().strip() if TOKEN_FILE.exists() else ""
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "hello", "visitor_token": token, "name": "Terminal customer"}))
        welcome = json.loads(await ws.recv())
        TOKEN_FILE.parent.mkdir(parents=True, exist_ok=True)
        TOKEN_FILE.write_text(welcome["visitor_token"])
        print(f"connected as visitor {welcome['visitor_id']}; type a message and press Enter", flush=True)

        async def receive() -> None:
            async for raw in ws:
                frame = json.loads(raw)
                if frame["type"] == "message":
                    print(f"\n[agent] {frame['text']}", flush=True)
                elif frame["type"] == "error":
                    print(f"\n[error] {frame['detail']}", flush=True)

        receiver = asyncio.create_task(receive())
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            if line.strip():
                await ws.send(json.dumps({"type": "message", "client_message_id": uuid.uuid4().hex, "text": line}))
        receiver.cancel()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8081/chat/ws"))
