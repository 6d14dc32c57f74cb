"""Customer satisfaction, pure: when the survey goes out, what counts as an answer, and the scores."""

from __future__ import annotations

from dataclasses import replace

import pytest
from inbox_threading.domain import (
    DAY_US,
    Conversation,
    ConversationStatus,
    Satisfaction,
    SurveyPolicy,
    parse_rating,
    score_board,
    survey_answer_target,
    survey_due,
    survey_text,
)

POLICY = SurveyPolicy()
RESOLVED = Conversation("c1", "cu", ConversationStatus.RESOLVED, "sms", "main", "ada", 1, 1, 2, team="care")
ASKED = replace(RESOLVED, satisfaction=Satisfaction("s1", 10 * DAY_US, "ada", "care"))


def test_the_survey_goes_once_and_only_on_channels_that_carry_it() -> None:
    assert survey_due(RESOLVED, POLICY)
    assert not survey_due(ASKED, POLICY)  # once per conversation, whatever happens after
    assert not survey_due(replace(RESOLVED, channel="voice"), POLICY)
    assert not survey_due(RESOLVED, SurveyPolicy(channels=frozenset()))
    assert "buttons" not in survey_text("chat") and "Reply with a number" in survey_text("sms")


@pytest.mark.parametrize(
    ("text", "rating"),
    [
        ("4", (4, "")),
        ("4/5", (4, "")),
        ("5 - thanks, quick and kind!", (5, "thanks, quick and kind!")),
        ("  1  nobody   listened ", (1, "nobody listened")),
        ("3. ok", (3, "ok")),
        ("Where is my order?", None),
        ("10", None),
        ("0", None),
        ("5star", None),
        ("", None),
    ],
)
def test_a_reply_starting_with_a_score_is_a_rating(text: str, rating: tuple[int, str] | None) -> None:
    assert parse_rating(text) == rating


def test_only_a_waiting_survey_takes_an_answer() -> None:
    soon = 11 * DAY_US
    assert survey_answer_target(ASKED, soon, POLICY) is ASKED
    # A bare number after the window, or once the conversation reopened, is not an answer.
    assert survey_answer_target(ASKED, 18 * DAY_US, POLICY) is None
    assert survey_answer_target(replace(ASKED, status=ConversationStatus.OPEN), soon, POLICY) is None
    # The widget's buttons and the email page name the survey: they count whenever they come.
    assert survey_answer_target(replace(ASKED, status=ConversationStatus.OPEN), 30 * DAY_US, POLICY, "s1") is not None
    assert survey_answer_target(ASKED, soon, POLICY, "another survey") is None
    # Answered already, or never asked.
    answered = replace(ASKED, satisfaction=replace(ASKED.satisfaction, score=4))  # type: ignore[type-var]
    assert survey_answer_target(answered, soon, POLICY) is None
    assert survey_answer_target(RESOLVED, soon, POLICY) is None


def test_scores_per_agent_and_team() -> None:
    def answer(agent: str, team: str, score: int) -> Satisfaction:
        return Satisfaction("s", 1, agent, team, score, "", 2)

    overall, agents, teams = score_board(
        [answer("ada", "care", 5), answer("ada", "care", 4), answer("bob", "care", 1), answer("bob", "", 3)],
        low_score=2,
    )
    assert (overall.responses, overall.average, overall.satisfied_percent, overall.low) == (4, 3.25, 50.0, 1)
    assert [(a.key, a.responses, a.average, a.satisfied_percent, a.low) for a in agents] == [
        ("ada", 2, 4.5, 100.0, 0),
        ("bob", 2, 2.0, 0.0, 1),
    ]
    assert [(t.key, t.responses) for t in teams] == [("care", 3), ("(no team)", 1)]
    empty, _, _ = score_board([], low_score=2)
    assert (empty.responses, empty.average) == (0, 0.0)
