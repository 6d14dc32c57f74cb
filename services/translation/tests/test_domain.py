import pytest
from inbox_language import Detection
from inbox_runtime.errors import FailedPrecondition
from inbox_translation.domain import (
    Route,
    SentimentSource,
    cache_key,
    choose_route,
    guess_stands,
    protect,
    restore,
    sentiment_source,
)


def test_protected_text_comes_out_exactly_as_it_went_in() -> None:
    text = (
        "Order ORD-4411 (ticket #98765) is late. Write to ana.lopez@example.com, call +34 600 123 456, "
        "see https://shop.example.com/track?id=ORD-4411. Run `reset --all`. Ask for Acme Prime."
    )
    masked = protect(text, glossary=["Acme Prime"])
    assert "ORD-4411" not in masked.text and "example.com" not in masked.text and "Acme Prime" not in masked.text
    assert masked.originals == (
        "ORD-4411",
        "#98765",
        "ana.lopez@example.com",
        "+34 600 123 456",
        "https://shop.example.com/track?id=ORD-4411",
        "`reset --all`",
        "Acme Prime",
    )
    engine_output = masked.text.replace("is late", "llega tarde")  # what an engine would do around them
    restored = restore(engine_output, masked)
    assert restored.replace("llega tarde", "is late") == text


def test_a_translation_that_lost_a_protected_span_is_refused() -> None:
    masked = protect("Order ORD-1 and ORD-2")
    with pytest.raises(FailedPrecondition):
        restore(masked.text.replace("XQX1XQX", ""), masked)


def test_the_first_provider_offering_a_pair_serves_it_else_a_pivot() -> None:
    chain = [
        ("apertium", frozenset({("es", "en"), ("en", "es")})),
        ("deepl", frozenset({("de", "en"), ("en", "de"), ("es", "en")})),
    ]
    assert choose_route(chain, "es", "en") == Route((("apertium", "es", "en"),))
    assert choose_route(chain, "de", "en").providers == ("deepl",)  # type: ignore[union-attr]
    assert choose_route(chain, "de", "es") is None
    assert choose_route(chain, "de", "es", pivot="en") == Route((("deepl", "de", "en"), ("apertium", "en", "es")))


def test_cache_keys_depend_on_text_and_pair() -> None:
    assert cache_key("hola", "es", "en") == cache_key("hola", "es", "en")
    assert len({cache_key("hola", "es", "en"), cache_key("hola", "es", "fr"), cache_key("Hola", "es", "en")}) == 3


def test_a_first_guess_stands_only_where_the_careful_detection_would_change_nothing() -> None:
    sure_es = Detection("es", 0.99)
    assert guess_stands("es", sure_es, "")  # a new customer: threading wrote "es" everywhere
    assert guess_stands("es", sure_es, "es")
    assert not guess_stands("", sure_es, "")  # no guess was stored
    assert not guess_stands("de", Detection("en", 0.9), "")  # a wrong guess is corrected
    assert not guess_stands("es", sure_es, "en")  # the customer's known language changes: threading left it
    # Unsure: it would set the message's language alone, which is already that.
    assert guess_stands("es", Detection("es", 0.0, fallback=True), "es")
    assert guess_stands("", Detection("", 0.0, fallback=True), "")
    assert not guess_stands("", Detection("fr", 0.0, fallback=True), "fr")  # the known language, not stored
    assert not guess_stands("de", Detection("", 0.0, fallback=True), "")  # a guess to take back


def test_sentiment_is_scored_where_threading_could_not() -> None:
    # English that threading scored as it stored it: nothing to do; English it did not know: as written.
    assert sentiment_source("en", scored_as_stored=True) is None
    assert sentiment_source("en", scored_as_stored=False) is SentimentSource.AS_WRITTEN
    # Another language is read on its English translation, replacing a score read from it as English.
    assert sentiment_source("es", scored_as_stored=False) is SentimentSource.TRANSLATION
    assert sentiment_source("es", scored_as_stored=True) is SentimentSource.TRANSLATION
    # A language nobody could tell: no translation can be asked for.
    assert sentiment_source("", scored_as_stored=False) is None
