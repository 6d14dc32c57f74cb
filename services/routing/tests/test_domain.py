import dataclasses

import pytest
from inbox_routing.domain import (
    CHAT,
    EMAIL,
    SMS,
    Agent,
    Candidate,
    EscalationStep,
    Presence,
    RouteRequest,
    RoutingPolicy,
    Target,
    choose_rule,
    decide,
    escalated,
    estimated_wait_seconds,
    parse_rules,
    pending_on,
    validate_agent,
)
from inbox_runtime.errors import InvalidInput

REQUEST = RouteRequest("conv", "cust", CHAT, "support")


def agent(
    agent_id: str,
    presence: Presence = Presence.AVAILABLE,
    idle_since: int = 0,
    teams: tuple[str, ...] = (),
    skills: tuple[tuple[str, int], ...] = (),
    languages: tuple[str, ...] = ("en",),
    **caps: int,
) -> Agent:
    capacities = {CHAT: caps["chat"]} if "chat" in caps else {}
    return Agent(agent_id, agent_id.title(), presence, capacities, languages, idle_since, teams, skills)


def test_least_loaded_relative_to_capacity_wins() -> None:
    assert decide(REQUEST, Target(), [Candidate(agent("a"), 2), Candidate(agent("b"), 1)]).agent_id == "b"


def test_conversations_being_given_to_an_agent_count_in_their_load_on_that_channel() -> None:
    candidates = [Candidate(agent("a", chat=2), 0), Candidate(agent("b", chat=2), 1)]
    pending = {("a", CHAT): 2, ("b", EMAIL): 5}

    on_chat = pending_on(CHAT, pending)

    assert on_chat == {"a": 2}
    # a is full once its picks land: the next decision goes to b, not to a's store-side free seats.
    decision = decide(REQUEST, Target(), candidates, pending=on_chat)
    assert decision.agent_id == "b"
    assert {v.agent_id: v.reason for v in decision.verdicts}["a"] == "at capacity (2/2)"
    assert decide(REQUEST, Target(), candidates, pending={}).agent_id == "a"


def test_ties_go_to_the_longest_idle_then_to_the_agent_id() -> None:
    decision = decide(
        REQUEST, Target(), [Candidate(agent("a", idle_since=20), 0), Candidate(agent("b", idle_since=10), 0)]
    )
    assert decision.agent_id == "b"
    assert decide(REQUEST, Target(), [Candidate(agent("b"), 0), Candidate(agent("a"), 0)]).agent_id == "a"


def test_the_customers_previous_agent_comes_first_when_eligible() -> None:
    candidates = [Candidate(agent("a"), 0), Candidate(agent("known"), 2)]
    decision = decide(REQUEST, Target(), candidates, known_agent_id="known")
    assert decision.agent_id == "known" and decision.reason == "the customer's previous agent, available with room"
    full = [Candidate(agent("a"), 0), Candidate(agent("known"), 3)]
    assert decide(REQUEST, Target(), full, known_agent_id="known").agent_id == "a"


def test_team_skills_and_language_decide_eligibility_and_preferred_skills_rank() -> None:
    target = Target(team="billing", required_skills=(("refunds", 3),), preferred_skills=("spanish_law",))
    spanish = RouteRequest("conv", "cust", CHAT, "support", language="es")
    candidates = [
        Candidate(agent("outsider", skills=(("refunds", 9),), languages=("es",)), 0),
        Candidate(agent("junior", teams=("billing",), skills=(("refunds", 2),), languages=("es",)), 0),
        Candidate(agent("english", teams=("billing",), skills=(("refunds", 5),), languages=("en",)), 0),
        Candidate(agent("good", teams=("billing",), skills=(("refunds", 4),), languages=("es",)), 1),
        Candidate(agent("best", teams=("billing",), skills=(("refunds", 4), ("spanish_law", 5)), languages=("es",)), 2),
    ]
    decision = decide(spanish, target, candidates)
    assert decision.agent_id == "best"
    reasons = {v.agent_id: v.reason for v in decision.verdicts}
    assert reasons["outsider"] == "not in team billing"
    assert reasons["junior"] == "needs refunds at level 3 (has 2)"
    assert reasons["english"] == "does not speak es"
    assert reasons["good"].startswith("eligible, ranked lower")


def test_nobody_over_capacity_or_unavailable_or_who_declined_is_chosen() -> None:
    candidates = [
        Candidate(agent("full"), 3),  # chat default capacity is 3
        Candidate(agent("away", Presence.AWAY), 0),
        Candidate(agent("zero", chat=0), 0),
        Candidate(agent("declined"), 0),
    ]
    decision = decide(REQUEST, Target(), candidates, excluded=frozenset({"declined"}))
    assert decision.agent_id is None
    reasons = {v.agent_id: v.reason for v in decision.verdicts}
    assert reasons == {
        "away": "presence is away",
        "declined": "already declined or let the offer lapse",
        "full": "at capacity (3/3)",
        "zero": "at capacity (0/0)",
    }


def test_capacity_is_per_channel() -> None:
    email = RouteRequest("conv", "cust", EMAIL, "support")
    assert decide(email, Target(), [Candidate(agent("a", chat=0), 9)]).agent_id == "a"  # email default 10


def test_the_same_inputs_always_give_the_same_decision() -> None:
    candidates = [Candidate(agent(f"a{i}", idle_since=i % 3), i % 2) for i in range(20)]
    first = decide(REQUEST, Target(), candidates)
    assert all(decide(REQUEST, Target(), list(reversed(candidates))) == first for _ in range(5))


RULES = {
    "default": {"team": "general"},
    "rules": [
        {"id": "vip", "match": {"attributes": {"tier": "vip"}}, "target": {"team": "vip", "priority": 10}},
        {
            "id": "refunds-es",
            "match": {"channels": ["chat", "sms"], "languages": ["es"], "keywords": ["reembolso", "devolución"]},
            "target": {
                "team": "billing",
                "required_skills": {"refunds": 2},
                "preferred_skills": ["spanish_law"],
                "escalation": [
                    {"after_seconds": 60, "raise_priority": 5},
                    {"after_seconds": 300, "widen": True, "overflow_team": "general"},
                ],
            },
        },
        {"id": "urgent", "match": {"tags": ["urgent"]}, "target": {"priority": 50}},
    ],
}


def test_rules_match_in_order_and_fall_back_to_the_default() -> None:
    rules = parse_rules(RULES)
    vip = RouteRequest("c", "cust", EMAIL, "support", attributes=(("tier", "vip"),))
    assert choose_rule(rules, vip)[0] == "vip"
    refund = RouteRequest("c", "cust", SMS, "support", language="es", text="Quiero un REEMBOLSO ya")
    rule_id, target = choose_rule(rules, refund)
    assert (rule_id, target.team, target.required_skills) == ("refunds-es", "billing", (("refunds", 2),))
    assert choose_rule(rules, RouteRequest("c", "cust", EMAIL, "support", language="es", text="reembolso"))[0] == ""
    assert choose_rule(rules, RouteRequest("c", "cust", EMAIL, "x", tags=("URGENT",)))[0] == "urgent"
    assert choose_rule(rules, REQUEST) == ("", Target(team="general"))


def test_escalation_steps_apply_by_waiting_time() -> None:
    target = choose_rule(parse_rules(RULES), RouteRequest("c", "c", CHAT, "s", language="es", text="reembolso"))[1]
    assert escalated(target, 10) == (target, 0)
    raised, step = escalated(target, 61)
    assert (raised.priority, raised.team, step) == (5, "billing", 1)
    widened, step = escalated(target, 301)
    assert (widened.priority, widened.team, widened.required_skills, step) == (5, "general", (), 2)
    assert escalated(Target(escalation=(EscalationStep(30, raise_priority=1),)), 29)[1] == 0


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ({"rules": [{"match": {}}]}, "needs an id"),
        ({"rules": [{"id": "a"}, {"id": "a"}]}, "used twice"),
        ({"rules": [{"id": "a", "match": {"channels": ["Fax!"]}}]}, "is not a channel's name"),
        ({"rules": [{"id": "a", "match": {"colour": "red"}}]}, "unknown keys"),
        ({"default": {"priority": 1000}}, "priority"),
        ({"default": {"required_skills": {"x": 11}}}, "required_skills.x"),
        ({"default": {"escalation": [{"after_seconds": 60}, {"after_seconds": 30}]}}, "in order"),
        ({"routes": []}, "unknown top-level"),
    ],
)
def test_bad_rules_are_refused_with_the_place_named(document: dict[str, object], complaint: str) -> None:
    with pytest.raises(InvalidInput, match=complaint):
        parse_rules(document)


def test_wait_estimates() -> None:
    policy = RoutingPolicy(average_handle_seconds=240)
    assert estimated_wait_seconds(3, 2, policy) == 360
    assert estimated_wait_seconds(3, 0, policy) == 0
    assert estimated_wait_seconds(0, 2, policy) == 0


@pytest.mark.parametrize(
    ("agent_id", "name", "caps", "teams", "skills"),
    [
        ("", "Ada", {}, (), {}),
        ("has space", "Ada", {}, (), {}),
        ("ada", " ", {}, (), {}),
        ("ada", "Ada", {"Fax!": 1}, (), {}),
        ("ada", "Ada", {CHAT: -1}, (), {}),
        ("ada", "Ada", {}, ("bad team",), {}),
        ("ada", "Ada", {}, (), {"refunds": 0}),
    ],
)
def test_invalid_agents_are_refused(
    agent_id: str, name: str, caps: dict[str, int], teams: tuple[str, ...], skills: dict[str, int]
) -> None:
    with pytest.raises(InvalidInput):
        validate_agent(agent_id, name, caps, teams, skills)


def test_customers_hear_again_only_when_their_place_changed_a_lot() -> None:
    from inbox_routing.domain import worth_announcing

    assert worth_announcing(0, 7)  # first time
    assert not worth_announcing(7, 6) and not worth_announcing(7, 5)
    assert worth_announcing(7, 4)  # three places forward
    assert worth_announcing(30, 20) and not worth_announcing(30, 21)  # a third of the way
    assert worth_announcing(2, 5)  # pushed back (higher priority arrived)
    assert not worth_announcing(5, 0)  # no longer waiting


def test_service_level_timers_and_handover_notes() -> None:
    from inbox_routing.domain import FIRST_RESPONSE, NEXT_RESPONSE, handover_note, sla_after_message, sla_due

    policy = RoutingPolicy(first_response_us=300, next_response_us=900)
    assert sla_due(FIRST_RESPONSE, 1000, policy) == 1300 and sla_due(NEXT_RESPONSE, 1000, policy) == 1900
    assert sla_after_message(FIRST_RESPONSE, inbound=True, by_agent=False) == FIRST_RESPONSE  # still unanswered
    assert sla_after_message(None, inbound=True, by_agent=False) == NEXT_RESPONSE
    assert sla_after_message(NEXT_RESPONSE, inbound=False, by_agent=True) is None
    assert sla_after_message(None, inbound=False, by_agent=False) is None  # a system notice changes nothing
    assert handover_note("VIP, be gentle", "user: hi\nbot: hello", "faq-bot") == (
        "VIP, be gentle\n\nTranscript from faq-bot:\nuser: hi\nbot: hello"
    )
    assert handover_note("", "", "ada") == ""


def test_a_big_floor_spells_out_only_the_verdicts_an_explanation_keeps() -> None:
    from inbox_routing.plans import RANKED_LOWER_SHOWN, stored_verdicts

    floor = [Candidate(agent(f"a{i:03}", chat=200), i) for i in range(120)] + [
        Candidate(agent(f"z{i}", Presence.AWAY), 0) for i in range(3)
    ]
    full = decide(REQUEST, Target(), floor)
    short = decide(REQUEST, Target(), floor, ranked_lower_shown=RANKED_LOWER_SHOWN)
    assert (short.agent_id, short.reason) == (full.agent_id, full.reason) == ("a000", short.reason)
    assert len(full.verdicts) == 123 and full.omitted == 0
    assert len(short.verdicts) == 3 + 1 + RANKED_LOWER_SHOWN and short.omitted == 119 - RANKED_LOWER_SHOWN
    assert stored_verdicts(short) == stored_verdicts(full)
    kept = stored_verdicts(short)
    # The chosen one, the runners-up, and why each agent away could not take it: then the rest, counted.
    assert [v.agent_id for v in kept[: 1 + RANKED_LOWER_SHOWN]] == [f"a{i:03}" for i in range(1 + RANKED_LOWER_SHOWN)]
    assert [(v.agent_id, v.reason) for v in kept[1 + RANKED_LOWER_SHOWN : -1]] == [
        (f"z{i}", "presence is away") for i in range(3)
    ]
    assert kept[-1].reason == f"and {123 - len(kept) + 1} more agents, not eligible or ranked lower"


def test_a_rule_matches_a_very_negative_customer_and_nobody_unscored() -> None:
    rules = parse_rules(
        {
            "rules": [
                {"id": "upset", "match": {"sentiment_at_most": -0.6}, "target": {"team": "senior", "priority": 10}}
            ],
            "default": {"team": "tier1"},
        }
    )
    assert choose_rule(rules, dataclasses.replace(REQUEST, sentiment=-0.8))[0] == "upset"
    assert choose_rule(rules, dataclasses.replace(REQUEST, sentiment=-0.6))[0] == "upset"
    assert choose_rule(rules, dataclasses.replace(REQUEST, sentiment=-0.2))[0] == ""
    assert choose_rule(rules, REQUEST)[0] == ""  # not scored (yet): no sentiment rule holds


@pytest.mark.parametrize("bad", [-1.5, 2, "low", True])
def test_a_sentiment_threshold_is_a_score_from_minus_one_to_one(bad: object) -> None:
    with pytest.raises(InvalidInput, match="sentiment_at_most must be a sentiment score from -1 to 1"):
        parse_rules({"rules": [{"id": "r", "match": {"sentiment_at_most": bad}}]})
