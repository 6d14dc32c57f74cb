import pytest
from inbox_runtime.config import CommonSettings, ConfigError, env, env_list, secret


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


def test_metrics_port_and_collector_are_off_unless_set_and_checked_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("METRICS_PORT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    common = CommonSettings.from_env()
    assert common.metrics_port is None and common.otlp_endpoint == ""
    monkeypatch.setenv("METRICS_PORT", "9464")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    common = CommonSettings.from_env()
    assert common.metrics_port == 9464 and common.otlp_endpoint == "http://collector:4318"
    monkeypatch.setenv("METRICS_PORT", "70000")
    with pytest.raises(ConfigError, match="METRICS_PORT"):
        CommonSettings.from_env()
    monkeypatch.setenv("METRICS_PORT", "9464")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_OTLP_ENDPOINT"):
        CommonSettings.from_env()
