from inbox_language import Detector, settle_language


def test_short_or_ambiguous_text_keeps_the_customers_known_language() -> None:
    assert settle_language([("es", 0.99), ("fr", 0.0)], "Hola, mi pedido no llega", "", 0.5, 0.2).language == "es"
    ok = settle_language([("en", 0.45), ("de", 0.42)], "ok", "es", 0.5, 0.2)
    assert (ok.language, ok.fallback) == ("es", True)
    close = settle_language([("en", 0.49), ("es", 0.4)], "Where is my parcel", "es", 0.5, 0.2)
    assert close.fallback and close.language == "es"


def test_both_accuracy_modes_read_a_plain_sentence() -> None:
    for accuracy in ("high", "low"):
        detector = Detector(("en", "es", "de"), 0.5, 0.2, accuracy)
        found = detector.detect("Hola, necesito ayuda con mi pedido, por favor")
        assert (found.language, found.fallback) == ("es", False), accuracy
        assert detector.detect("ok", "de") == detector.detect("ok", "de") and detector.detect("ok", "de").fallback
