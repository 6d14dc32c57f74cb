"""The routing service's repository: one Protocol, one implementation per store."""

from __future__ import annotations

from typing import Any, Protocol

from inbox_routing.domain import (
    Agent,
    Assignment,
    Decision,
    Presence,
    QueueStats,
    RouteOutcome,
    RouteRequest,
    RoutingPolicy,
    Target,
)
from inbox_routing.store.sqlite import Waiting

__all__ = ["RoutingStore", "Waiting"]


class RoutingStore(Protocol):
    async def upsert_agent(
        self,
        agent_id: str,
        display_name: str,
        capacities: dict[int, int],
        languages: tuple[str, ...],
        teams: tuple[str, ...] = (),
        skills: dict[str, int] | None = None,
    ) -> Agent: ...

    async def get_agent(self, agent_id: str) -> Agent | None: ...

    async def list_agents(self) -> list[Agent]: ...

    async def load_of(self, agent_id: str) -> dict[int, int]:
        """Conversations held (assigned or offered) per channel."""
        ...

    async def set_presence(self, agent_id: str, presence: Presence, now_us: int) -> Agent: ...

    async def heartbeat(self, agent_id: str, now_us: int) -> Agent: ...

    async def mark_silent_away(self, seen_before_us: int) -> list[Agent]: ...

    async def route(
        self,
        request: RouteRequest,
        target: Target,
        rule_id: str,
        escalation_step: int,
        policy: RoutingPolicy,
        now_us: int,
        *,
        force: bool = False,
    ) -> RouteOutcome:
        """Offer, assign or queue with `domain.decide` in one conditional write: capacity is counted in
        the same transaction, so no interleaving of replicas puts an agent over capacity."""
        ...

    async def accept_offer(self, conversation_id: str, agent_id: str, now_us: int) -> Assignment: ...

    async def withdraw_offer(self, conversation_id: str, agent_id: str, reason: str, now_us: int) -> Waiting | None: ...

    async def lapsed_offers(self, now_us: int) -> list[tuple[str, str]]: ...

    async def release_agent(self, agent_id: str, now_us: int) -> list[str]: ...

    async def release_agent_conversation(self, conversation_id: str, now_us: int) -> Waiting | None: ...

    async def transfer(self, conversation_id: str, to_agent: str, policy: RoutingPolicy, now_us: int) -> Assignment: ...

    async def queued(self, limit: int) -> list[Waiting]: ...

    async def queue_position(self, conversation_id: str) -> int: ...

    async def queue_positions(self, limit: int) -> list[tuple[Assignment, str, int, int]]: ...

    async def mark_announced(self, conversation_id: str, position: int) -> None: ...

    async def end(self, conversation_id: str, now_us: int) -> Assignment | None: ...

    async def forget_customer(self, customer_id: str) -> int: ...

    async def get_assignment(self, conversation_id: str) -> Assignment | None: ...

    async def explanation(self, conversation_id: str) -> tuple[Assignment, Decision] | None: ...

    async def queue_stats(self, now_us: int) -> QueueStats: ...

    async def sla_timer(self, conversation_id: str) -> tuple[str, int, bool] | None: ...

    async def start_sla(self, conversation_id: str, kind: str, due_us: int, *, replace: bool) -> None: ...

    async def stop_sla(self, conversation_id: str) -> None: ...

    async def breach_due(self, now_us: int, boost: int) -> list[tuple[Assignment, str, int]]: ...

    async def rules(self) -> tuple[dict[str, Any], int]: ...

    async def put_rules(self, document: dict[str, Any], updated_by: str, now_us: int) -> int: ...

    async def close(self) -> None: ...
