"""Language detection shared by the services that read customers' text."""

from inbox_language.detection import (
    ACCURACY_MODES,
    DEFAULT_LANGUAGES,
    DEFAULT_MIN_CONFIDENCE,
    DEFAULT_MIN_MARGIN,
    SUPPORTED_LANGUAGES,
    Detection,
    Detector,
    settle_language,
)

__all__ = [
    "ACCURACY_MODES",
    "DEFAULT_LANGUAGES",
    "DEFAULT_MIN_CONFIDENCE",
    "DEFAULT_MIN_MARGIN",
    "SUPPORTED_LANGUAGES",
    "Detection",
    "Detector",
    "settle_language",
]
