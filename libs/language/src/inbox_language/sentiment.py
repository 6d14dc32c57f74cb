"""Sentiment of a customer's message, offline: VADER's lexicon and rules (the `vaderSentiment` wheel ships
its 7,500-word lexicon and emoji table; nothing is downloaded), about 0.06 ms for a short message.

VADER reads English. A message in another language is scored on its English translation (translation's
pivot, see the translation README); threading scores a message at once only when it is stored as English.

The score is VADER's compound figure, from -1 (as negative as it gets) to +1. The labels cut it where
VADER's authors do (|score| < 0.05 is neutral), plus a band for what a contact centre must not miss.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

# The language the model reads.
SENTIMENT_LANGUAGE = "en"
# Beyond this many characters (a long email's quoted history) the opening says how the customer feels.
MAX_CHARACTERS = 2000


class SentimentLabel(StrEnum):
    VERY_NEGATIVE = "very_negative"
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"
    VERY_POSITIVE = "very_positive"


# Where the bands begin. "Very negative" starts at -0.6: "I am furious, this is unacceptable" (-0.79) is in,
# "my card was charged twice" (-0.20) is only negative.
VERY_NEGATIVE_AT = -0.6
NEGATIVE_AT = -0.05
POSITIVE_AT = 0.05
VERY_POSITIVE_AT = 0.6


def label_of(score: float) -> SentimentLabel:
    if score <= VERY_NEGATIVE_AT:
        return SentimentLabel.VERY_NEGATIVE
    if score <= NEGATIVE_AT:
        return SentimentLabel.NEGATIVE
    if score < POSITIVE_AT:
        return SentimentLabel.NEUTRAL
    if score < VERY_POSITIVE_AT:
        return SentimentLabel.POSITIVE
    return SentimentLabel.VERY_POSITIVE


@dataclass(frozen=True)
class Sentiment:
    # -1..+1, rounded to three places (what VADER's compound figure carries).
    score: float
    # The language the customer wrote in, when the score was read from its English translation.
    translated_from: str = ""

    @property
    def label(self) -> SentimentLabel:
        return label_of(self.score)


class SentimentModel:
    """VADER, loaded once per process (35 ms)."""

    def __init__(self) -> None:
        self._analyzer = SentimentIntensityAnalyzer()

    def score(self, english_text: str, translated_from: str = "") -> Sentiment | None:
        """The sentiment of an English text; None when it holds no words (VADER reads an emoji only beside
        words: "so angry 😡" is very negative, "😡" alone would be neutral)."""
        text = english_text[:MAX_CHARACTERS]
        if not any(c.isalpha() for c in text):
            return None
        compound = float(self._analyzer.polarity_scores(text)["compound"])
        return Sentiment(round(compound, 3), translated_from)
