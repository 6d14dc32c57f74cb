"""Language detection and sentiment, shared by the services that read customers' text."""

from inbox_language.detection import (
    DEFAULT_LANGUAGES,
    DEFAULT_MIN_CONFIDENCE,
    DEFAULT_MIN_MARGIN,
    SUPPORTED_LANGUAGES,
    Detection,
    Detector,
    is_language_code,
    settle_language,
    unsupported,
)
from inbox_language.sentiment import (
    SENTIMENT_LANGUAGE,
    Sentiment,
    SentimentLabel,
    SentimentModel,
    label_of,
)

__all__ = [
    "DEFAULT_LANGUAGES",
    "DEFAULT_MIN_CONFIDENCE",
    "DEFAULT_MIN_MARGIN",
    "SENTIMENT_LANGUAGE",
    "SUPPORTED_LANGUAGES",
    "Detection",
    "Detector",
    "Sentiment",
    "SentimentLabel",
    "SentimentModel",
    "is_language_code",
    "label_of",
    "settle_language",
    "unsupported",
]
