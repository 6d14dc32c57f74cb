"""Language detection shared by the services that read customers' text."""

from inbox_language.detection import (
    DEFAULT_LANGUAGES,
    DEFAULT_MIN_CONFIDENCE,
    DEFAULT_MIN_MARGIN,
    SUPPORTED_LANGUAGES,
    Detection,
    Detector,
    settle_language,
    unsupported,
)

__all__ = [
    "DEFAULT_LANGUAGES",
    "DEFAULT_MIN_CONFIDENCE",
    "DEFAULT_MIN_MARGIN",
    "SUPPORTED_LANGUAGES",
    "Detection",
    "Detector",
    "settle_language",
    "unsupported",
]
