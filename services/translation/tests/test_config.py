"""Translation's settings: a language the detector does not know stops the service at start, by name."""

from __future__ import annotations

import pytest
from inbox_language import DEFAULT_LANGUAGES
from inbox_runtime.config import ConfigError
from inbox_translation.config import Settings


def test_the_default_languages_are_detected_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRANSLATION_LANGUAGES", raising=False)
    assert Settings.from_env().languages == DEFAULT_LANGUAGES
    monkeypatch.setenv("TRANSLATION_LANGUAGES", "en,nl")
    assert Settings.from_env().languages == ("en", "nl")


def test_an_unknown_language_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSLATION_LANGUAGES", "en,klingon")
    with pytest.raises(ConfigError, match=r"TRANSLATION_LANGUAGES: \['klingon'\] are not ISO 639-1 codes"):
        Settings.from_env()
