import pytest
from inbox_runtime.config import ConfigError, env, env_list, secret


def test_defaults_casts_and_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("X_PORT", raising=False)
    assert env("X_PORT", int, 50051) == 50051
    monkeypatch.setenv("X_PORT", "6000")
    assert env("X_PORT", int, 50051) == 6000
    monkeypatch.setenv("X_PORT", "sixty")
    with pytest.raises(ConfigError, match="X_PORT"):
        env("X_PORT", int, 50051)
    monkeypatch.delenv("X_PORT")
    with pytest.raises(ConfigError, match="X_PORT is required"):
        env("X_PORT")


def test_booleans_and_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_FLAG", "yes")
    assert env("X_FLAG", bool, False) is True
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ConfigError):
        env("X_FLAG", bool, False)
    monkeypatch.setenv("X_LIST", "chat, sms,,")
    assert env_list("X_LIST") == ("chat", "sms")


def test_short_secrets_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_TOKEN", "short")
    with pytest.raises(ConfigError, match="at least 16"):
        secret("X_TOKEN")
