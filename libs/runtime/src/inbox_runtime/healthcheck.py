"""`python -m inbox_runtime.healthcheck HOST:PORT [SERVICE]`: exit 0 when the server is SERVING.

Used by docker-compose healthchecks and by `make run` to wait for the suite.
"""

from __future__ import annotations

import asyncio
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


async def is_serving(target: str, service: str = "", timeout: float = 2.0) -> bool:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.aio.AioRpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


async def wait_until_serving(target: str, service: str = "", timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await is_serving(target, service):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{target} did not become SERVING within {timeout:.0f} s")
        await asyncio.sleep(0.1)


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m inbox_runtime.healthcheck HOST:PORT [SERVICE]")
    service = sys.argv[2] if len(sys.argv) > 2 else ""
    raise SystemExit(0 if asyncio.run(is_serving(sys.argv[1], service)) else 1)


if __name__ == "__main__":
    main()
