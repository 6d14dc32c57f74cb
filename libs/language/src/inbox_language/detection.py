"""Language detection with lingua, restricted to the languages configured; each model loads once, on first use.

Accuracy `high` reads texts shorter than 120 characters with every n-gram size, one to five, which is what
recognises a short chat message; `low` reads trigrams only: about 150 MB less memory for the six default
languages, less sure of short messages (`bench/language_detection.py` measures both).

Two services detect, each for its own reason: threading guesses with `low` as it stores a customer's
message, so the message, its conversation and routing know the language at once; translation, the
authority, checks with `high` and corrects the guess only where it disagrees (see the translation README).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

ACCURACY_MODES = ("high", "low")
DEFAULT_LANGUAGES = ("en", "es", "fr", "de", "pt", "it")
# ISO 639-1 codes lingua can detect.
SUPPORTED_LANGUAGES = frozenset(language.iso_code_639_1.name.lower() for language in Language.all())
# When a detection is trusted (see `settle_language`).
DEFAULT_MIN_CONFIDENCE = 0.5
DEFAULT_MIN_MARGIN = 0.2


@dataclass(frozen=True)
class Detection:
    language: str  # ISO 639-1, "" when unsure
    confidence: float
    # Taken from the customer's known language because the text said too little.
    fallback: bool = False


_WORD = re.compile(r"\w+")
# Fewer words than this say too little to detect anything.
MIN_WORDS = 2


def too_short(text: str) -> bool:
    return len(_WORD.findall(text)) < MIN_WORDS


def settle_language(
    scores: Sequence[tuple[str, float]], text: str, known_language: str, min_confidence: float, min_margin: float
) -> Detection:
    """Trust the detector only when the text is long enough and the best language clearly leads;
    otherwise keep the customer's known language (short or ambiguous text says little)."""
    if too_short(text):
        return _unsure(known_language)
    return _trusted(scores, known_language, min_confidence, min_margin)


def _trusted(
    scores: Sequence[tuple[str, float]], known_language: str, min_confidence: float, min_margin: float
) -> Detection:
    """The best language of a text long enough to tell, if it clearly leads."""
    ranked = sorted(scores, key=lambda s: s[1], reverse=True)
    if ranked:
        best, confidence = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        if confidence >= min_confidence and confidence - runner_up >= min_margin:
            return Detection(best, confidence)
    return _unsure(known_language)


def _unsure(known_language: str) -> Detection:
    return Detection(known_language, 0.0, fallback=True)


class Detector:
    def __init__(
        self,
        languages: Sequence[str],
        min_confidence: float,
        min_margin: float,
        accuracy: str = "high",
        *,
        preload: bool = False,
    ) -> None:
        """`preload` loads the models now rather than on the first text (which then waits for them)."""
        chosen = [Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in languages]
        builder = LanguageDetectorBuilder.from_languages(*chosen)
        if accuracy == "low":
            builder = builder.with_low_accuracy_mode()
        if preload:
            builder = builder.with_preloaded_language_models()
        self._detector: LanguageDetector = builder.build()
        self._min_confidence = min_confidence
        self._min_margin = min_margin

    def detect(self, text: str, known_language: str = "") -> Detection:
        if too_short(text):  # settled as settle_language would, without asking lingua
            return _unsure(known_language)
        scores = [
            (value.language.iso_code_639_1.name.lower(), float(value.value))
            for value in self._detector.compute_language_confidence_values(text)
        ]
        # The words are counted once: above.
        return _trusted(scores, known_language, self._min_confidence, self._min_margin)
