"""The routing service's repository: one Protocol, one implementation per store."""

from __future__ import annotations

from typing import Protocol

from inbox_routing.domain import Agent, Assignment, Presence, RouteOutcome, RouteRequest


class RoutingStore(Protocol):
    async def upsert_agent(
        self, agent_id: str, display_name: str, capacities: dict[int, int], languages: tuple[str, ...]
    ) -> Agent: ...

    async def get_agent(self, agent_id: str) -> Agent | None: ...

    async def list_agents(self) -> list[Agent]: ...

    async def load_of(self, agent_id: str) -> dict[int, int]:
        """Assigned conversations per channel."""
        ...

    async def set_presence(self, agent_id: str, presence: Presence) -> Agent: ...

    async def route(self, request: RouteRequest, now_us: int) -> RouteOutcome:
        """Assign the conversation with `domain.decide`, or queue it, in one conditional write.

        An assigned conversation stays as it is; capacity is counted inside the same transaction, so no
        interleaving of replicas can put an agent over capacity.
        """
        ...

    async def queued(self, limit: int) -> list[RouteRequest]:
        """Waiting conversations, oldest first."""
        ...

    async def end(self, conversation_id: str, now_us: int) -> Assignment | None: ...

    async def forget_customer(self, customer_id: str) -> int: ...

    async def get_assignment(self, conversation_id: str) -> Assignment | None: ...

    async def close(self) -> None: ...
