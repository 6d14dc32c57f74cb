"""Translation's settings: the detection accuracy is one of the two modes, or the service does not start."""

from __future__ import annotations

import pytest
from inbox_runtime.config import ConfigError
from inbox_translation.config import Settings


def test_detection_is_high_accuracy_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRANSLATION_DETECTION_ACCURACY", raising=False)
    assert Settings.from_env().detection_accuracy == "high"
    monkeypatch.setenv("TRANSLATION_DETECTION_ACCURACY", "low")
    assert Settings.from_env().detection_accuracy == "low"


def test_an_unknown_detection_accuracy_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSLATION_DETECTION_ACCURACY", "medium")
    with pytest.raises(ConfigError, match="TRANSLATION_DETECTION_ACCURACY: 'medium' is not one of"):
        Settings.from_env()
