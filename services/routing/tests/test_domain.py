import pytest
from inbox_routing.domain import CHAT, EMAIL, Agent, Candidate, Presence, decide, validate_agent
from inbox_runtime.errors import InvalidInput


def agent(agent_id: str, presence: Presence = Presence.AVAILABLE, idle_since: int = 0, **caps: int) -> Agent:
    capacities = {CHAT: caps["chat"]} if "chat" in caps else {}
    return Agent(agent_id, agent_id.title(), presence, capacities, ("en",), idle_since)


def test_least_loaded_relative_to_capacity_wins() -> None:
    decision = decide(CHAT, [Candidate(agent("a"), 2), Candidate(agent("b"), 1)])
    assert decision.agent_id == "b"


def test_ties_go_to_the_longest_idle_then_to_the_agent_id() -> None:
    decision = decide(CHAT, [Candidate(agent("a", idle_since=20), 0), Candidate(agent("b", idle_since=10), 0)])
    assert decision.agent_id == "b"
    decision = decide(CHAT, [Candidate(agent("b"), 0), Candidate(agent("a"), 0)])
    assert decision.agent_id == "a"


def test_nobody_over_capacity_or_not_available_is_chosen() -> None:
    candidates = [
        Candidate(agent("full"), 3),  # chat default capacity is 3
        Candidate(agent("away", Presence.AWAY), 0),
        Candidate(agent("zero", chat=0), 0),
    ]
    decision = decide(CHAT, candidates)
    assert decision.agent_id is None
    reasons = {v.agent_id: v.reason for v in decision.verdicts}
    assert reasons == {"away": "presence is away", "full": "at capacity (3/3)", "zero": "at capacity (0/0)"}


def test_capacity_is_per_channel() -> None:
    decision = decide(EMAIL, [Candidate(agent("a", chat=0), 9)])
    assert decision.agent_id == "a"  # email default capacity 10


def test_every_candidate_gets_a_verdict() -> None:
    decision = decide(
        CHAT, [Candidate(agent("a"), 0), Candidate(agent("b"), 1), Candidate(agent("c", Presence.OFFLINE), 0)]
    )
    assert [v.agent_id for v in decision.verdicts if v.chosen] == ["a"]
    assert {v.agent_id for v in decision.verdicts} == {"a", "b", "c"}


@pytest.mark.parametrize(
    ("agent_id", "name", "caps"),
    [("", "Ada", {}), ("has space", "Ada", {}), ("ada", " ", {}), ("ada", "Ada", {99: 1}), ("ada", "Ada", {CHAT: -1})],
)
def test_invalid_agents_are_refused(agent_id: str, name: str, caps: dict[int, int]) -> None:
    with pytest.raises(InvalidInput):
        validate_agent(agent_id, name, caps)
