"""The routing service's repository: data access only, in domain terms. The actions decide.

Two implementations keep the same contract (`tests/test_store_contract.py` runs against both): SQLite,
the embedded default, and MongoDB, the production store (selected by `MONGODB_URI`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from inbox_routing.changes import AssignmentRecord, Outcome, RoutingChange
from inbox_routing.domain import Agent, Candidate, Presence, QueueStats


class RoutingStore(Protocol):
    # --- the conversations' routing ------------------------------------------------------------

    async def commit(self, changes: Sequence[RoutingChange]) -> list[Outcome]:
        """Write each change if its conversation is still at the version it was read at (else STALE)
        and, when it gives an agent the conversation, the agent holds fewer than `capacity` others on
        the channel (else FULL). Whatever the number of replicas, no agent ever exceeds capacity."""
        ...

    async def record(self, conversation_id: str) -> AssignmentRecord | None: ...

    async def candidates(self, channel: str, team: str) -> list[Candidate]:
        """Available agents (of the team, when there is one) with the conversations each holds on the channel."""
        ...

    async def known_agent(self, customer_id: str, conversation_id: str, since_us: int) -> str:
        """The agent who last had another (or this ended) conversation of the customer since `since_us`."""
        ...

    async def held_by(self, agent_id: str) -> list[str]:
        """Conversations the agent holds (assigned or offered)."""
        ...

    async def queued(self, limit: int) -> list[AssignmentRecord]:
        """Waiting conversations: highest priority first, then longest waiting."""
        ...

    async def queue_position(self, conversation_id: str) -> int:
        """1 for the next to be placed; 0 when not waiting."""
        ...

    async def lapsed_offers(self, now_us: int) -> list[tuple[str, str]]: ...

    async def offers_to(self, agent_id: str) -> list[AssignmentRecord]:
        """What is offered to the agent and not yet answered, the soonest to lapse first."""
        ...

    async def queue_stats(self, now_us: int) -> QueueStats: ...

    async def available_agents(self, team: str) -> int:
        """Available agents in `team` ("": the agents in no team), as `queue_stats` counts them, without
        counting the whole queue: what a queued conversation's estimated wait needs."""
        ...

    async def announced_positions(self, conversation_ids: Sequence[str]) -> dict[str, int]:
        """The queue position each waiting customer was last told (absent: never told)."""
        ...

    async def mark_announced(self, conversation_id: str, position: int) -> None: ...

    async def forget_customer(self, customer_id: str) -> int:
        """Erase the routing records of a customer; returns how many."""
        ...

    async def merge_customers(self, surviving_customer_id: str, merged_customer_id: str) -> int:
        """The merged customer's routing records (their agents of before, for sticky routing) are the
        survivor's; returns how many."""
        ...

    # --- agents --------------------------------------------------------------------------------

    async def upsert_agent(
        self,
        agent_id: str,
        display_name: str,
        capacities: dict[str, int],
        languages: tuple[str, ...],
        teams: tuple[str, ...] = (),
        skills: dict[str, int] | None = None,
    ) -> Agent: ...

    async def get_agent(self, agent_id: str) -> Agent | None: ...

    async def list_agents(self) -> list[Agent]: ...

    async def load_of(self, agent_id: str) -> dict[str, int]:
        """Conversations held (assigned or offered) per channel."""
        ...

    async def set_presence(self, agent_id: str, presence: Presence, now_us: int) -> Agent: ...

    async def heartbeat(self, agent_id: str, now_us: int) -> Agent: ...

    async def mark_silent_away(self, seen_before_us: int) -> list[Agent]: ...

    # --- service levels and rules ----------------------------------------------------------------

    async def sla_timer(self, conversation_id: str) -> tuple[str, int, bool] | None: ...

    async def start_sla(self, conversation_id: str, kind: str, due_us: int, *, replace: bool) -> None: ...

    async def stop_sla(self, conversation_id: str) -> None: ...

    async def breach_due(self, now_us: int) -> list[tuple[str, str, int]]:
        """Mark overdue timers breached (each once): (conversation, kind, due)."""
        ...

    async def rules(self) -> tuple[dict[str, Any], int]: ...

    async def put_rules(self, document: dict[str, Any], updated_by: str, now_us: int) -> int: ...

    async def wait_ready(self) -> None:
        """Return once the store answers; retry meanwhile, saying so in the log."""
        ...

    async def close(self) -> None: ...
