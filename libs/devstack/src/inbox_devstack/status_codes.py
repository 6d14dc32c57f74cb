"""The gRPC status each of several calls ends with, for tests that hold a rule across a service's methods."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping

import grpc


async def status_codes(calls: Mapping[str, Awaitable[object]]) -> dict[str, grpc.StatusCode]:
    """Each call awaited in turn: OK, or the code it failed with."""
    codes: dict[str, grpc.StatusCode] = {}
    for name, call in calls.items():
        try:
            await call
            codes[name] = grpc.StatusCode.OK
        except grpc.aio.AioRpcError as error:
            codes[name] = error.code()
    return codes
