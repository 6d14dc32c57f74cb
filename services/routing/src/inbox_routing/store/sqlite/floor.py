"""The floor in memory: the available agents and the agents' loads per channel, as of one revision of the
file, so a decision finds its candidates without a query (reading and parsing them was routing's largest
cost per decision).

The file stays the truth: a commit checks the chosen agent's load in its own transaction, which is what keeps
agents within capacity whatever the copy says. The copy only has to be good enough to decide well, and it
is kept so:

- triggers raise the file's floor revision at every change of an agent or of a load, and each of this
  process's commits reports the revision before and after it with what it changed (`FloorChange`); the copy
  follows them in the order they were written. A commit that did not start where the copy stands means
  something else changed the floor in between (another replica, an agent's presence): the copy is dropped
  and read again at the next decision;
- while none of this process's commits is being written, a decision compares the file's revision with the
  copy's (one lookup) and reads the floor again when they differ;
- a commit refused for capacity the copy thought was free drops it too.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from dataclasses import dataclass

from inbox_routing.domain import Agent, Candidate, Presence
from inbox_routing.store.sqlite.queries import AgentCache

# (agent, channel)
Seat = tuple[str, str]


@dataclass(frozen=True)
class FloorChange:
    """What one written change did to the floor, as its transaction saw it."""

    revision_before: int
    revision_after: int
    # The seat the conversation held before and holds now (None: none); the same seat both times is no change.
    released: Seat | None = None
    taken: Seat | None = None
    # An agent given the conversation, and when (the decision's tie-break on whoever waited longest).
    assigned: tuple[str, int] | None = None


def floor_revision(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT revision FROM floor_revision").fetchone()[0])


class Floor:
    """Used on the event loop's thread only, with the store's lookup connection."""

    def __init__(self) -> None:
        self._revision: int | None = None
        self._available: dict[str, Agent] = {}
        self._loads: dict[Seat, int] = {}
        self._parsed = AgentCache()
        self._commits_in_flight = 0
        # The candidates last made per (channel, team), for the copy's revision: the decisions of a batch
        # all find the same floor until the first of their commits is written.
        self._made: dict[tuple[str, str], list[Candidate]] = {}
        self._made_at: int | None = None

    @property
    def revision(self) -> int | None:
        """The file's revision the copy stands at; None when there is no copy."""
        return self._revision

    def candidates(self, conn: sqlite3.Connection, channel: str, team: str) -> list[Candidate]:
        """The available agents (of `team`, when given) with their load on `channel`, in agent id order."""
        if self._revision is None or (self._commits_in_flight == 0 and floor_revision(conn) != self._revision):
            self._read(conn)
        if self._made_at != self._revision:
            self._made, self._made_at = {}, self._revision
        made = self._made.get((channel, team))
        if made is None:
            loads = self._loads
            made = self._made[(channel, team)] = [
                Candidate(agent, loads.get((agent_id, channel), 0))
                for agent_id, agent in self._available.items()
                if not team or team in agent.teams
            ]
        return list(made)

    def committing(self) -> None:
        """One of this process's commits is on its way: until it is written, the file's revision is expected
        to move, and only the commit's own report says whether something else moved it too."""
        self._commits_in_flight += 1

    def committed(self) -> None:
        self._commits_in_flight -= 1

    def follow(self, changes: list[FloorChange]) -> None:
        """This process's written changes, in the order they were written."""
        for change in changes:
            if self._revision is None or change.revision_after <= self._revision:
                continue  # no copy, or a copy read after this change was written
            if change.revision_before != self._revision:
                self.forget()  # something else changed the floor in between
                return
            if change.released is not None:
                self._loads[change.released] = self._loads.get(change.released, 0) - 1
            if change.taken is not None:
                self._loads[change.taken] = self._loads.get(change.taken, 0) + 1
            if change.assigned is not None:
                agent_id, at_us = change.assigned
                agent = self._available.get(agent_id)
                if agent is not None:
                    self._available[agent_id] = dataclasses.replace(agent, last_assigned_at_us=at_us)
            self._revision = change.revision_after

    def forget(self) -> None:
        self._revision = None

    def _read(self, conn: sqlite3.Connection) -> None:
        # One read transaction: the revision, the agents and the loads of one and the same state of the file.
        conn.execute("BEGIN")
        try:
            revision = floor_revision(conn)
            found = conn.execute(
                "SELECT agent_id, revision FROM agents WHERE presence = ? ORDER BY agent_id",
                (int(Presence.AVAILABLE),),
            ).fetchall()
            available = {
                agent_id: agent
                for agent_id, agent_revision in found
                if (agent := self._parsed.agent(conn, agent_id, agent_revision)) is not None
            }
            loads = {
                (str(agent_id), str(channel)): int(held)
                for agent_id, channel, held in conn.execute("SELECT agent_id, channel, held FROM agent_loads")
            }
        finally:
            conn.execute("COMMIT")
        self._revision, self._available, self._loads = revision, available, loads
