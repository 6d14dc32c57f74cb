"""Language detection with lingua, restricted to the languages configured; each model loads once, on first use.

Accuracy `high` (the default) reads texts shorter than 120 characters with every n-gram size, one to five,
which is what recognises a short chat message; `low` reads trigrams only: about 150 MB less memory for the
six default languages, less sure of short messages (`bench/language_detection.py` measures both)."""

from __future__ import annotations

from collections.abc import Sequence

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

from inbox_translation.domain import Detection, settle_language

ACCURACY_MODES = ("high", "low")


class Detector:
    def __init__(
        self, languages: Sequence[str], min_confidence: float, min_margin: float, accuracy: str = "high"
    ) -> None:
        chosen = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in languages]
        builder = LanguageDetectorBuilder.from_languages(*chosen)
        if accuracy == "low":
            builder = builder.with_low_accuracy_mode()
        self._detector: LanguageDetector = builder.build()
        self._min_confidence = min_confidence
        self._min_margin = min_margin

    def detect(self, text: str, known_language: str = "") -> Detection:
        scores = [
            (value.language.iso_code_639_1.name.lower(), float(value.value))
            for value in self._detector.compute_language_confidence_values(text)
        ]
        return settle_language(scores, text, known_language, self._min_confidence, self._min_margin)
