"""The sentiment model on support messages, and where its labels cut."""

from __future__ import annotations

import pytest
from inbox_language import SentimentLabel, SentimentModel, label_of


@pytest.fixture(scope="module")
def model() -> SentimentModel:
    return SentimentModel()


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("This is the third time my order is late. I am furious, this is unacceptable!", "very_negative"),
        ("My card was charged twice", "negative"),
        ("Where is my order?", "neutral"),
        ("Thanks, that solved it, great service!", "very_positive"),
        ("thank you", "positive"),
    ],
)
def test_support_messages_read_as_a_person_would(model: SentimentModel, text: str, label: str) -> None:
    scored = model.score(text)
    assert scored is not None
    assert scored.label == label
    assert -1.0 <= scored.score <= 1.0


def test_a_text_with_nothing_to_read_has_no_score(model: SentimentModel) -> None:
    assert model.score("  12345 ... ") is None
    assert model.score("") is None


def test_an_emoji_weighs_with_words(model: SentimentModel) -> None:
    angry = model.score("I am so angry 😡")
    assert angry is not None and angry.label == SentimentLabel.VERY_NEGATIVE
    assert model.score("😡") is None  # no words: nothing VADER can read


def test_the_language_it_was_translated_from_is_kept(model: SentimentModel) -> None:
    scored = model.score("I am very angry", translated_from="es")
    assert scored is not None and scored.translated_from == "es" and scored.label == SentimentLabel.NEGATIVE


@pytest.mark.parametrize(
    ("score", "label"),
    [
        (-1.0, "very_negative"),
        (-0.6, "very_negative"),
        (-0.59, "negative"),
        (-0.05, "negative"),
        (-0.049, "neutral"),
        (0.049, "neutral"),
        (0.05, "positive"),
        (0.599, "positive"),
        (0.6, "very_positive"),
    ],
)
def test_bands(score: float, label: str) -> None:
    assert label_of(score) == label
