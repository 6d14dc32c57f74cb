from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from inbox_events.channels import check_channel_name
from inbox_language import DEFAULT_LANGUAGES, unsupported
from inbox_runtime.config import CommonSettings, ConfigError, env, env_list

from inbox_threading.domain import DAY_US, MAX_SCORE, SurveyPolicy, ThreadPolicies, ThreadPolicy
from inbox_threading.webhooks import HOUR_US, WebhookPolicy


@dataclass(frozen=True)
class Settings:
    common: CommonSettings
    grpc_port: int
    db_path: Path
    policies: ThreadPolicies
    snooze_check_seconds: float
    # Channels on which waiting customers are told their place in the queue.
    queue_notice_channels: frozenset[str]
    # Languages detected as a new customer's message is stored (empty: none, translation detects alone).
    guess_languages: tuple[str, ...]
    webhook_policy: WebhookPolicy
    surveys: SurveyPolicy

    @classmethod
    def from_env(cls) -> Settings:
        common = CommonSettings.from_env()
        default = ThreadPolicy(reopen_window_us=int(env("THREADING_REOPEN_WINDOW_DAYS", float, 7.0) * DAY_US))
        return cls(
            common=common,
            grpc_port=env("THREADING_GRPC_PORT", int, 50051),
            db_path=env("THREADING_DB_PATH", Path, common.data_dir / "threading.sqlite3"),
            policies=inbox_policies(
                default, env_list("THREADING_INBOX_REOPEN_WINDOW_DAYS"), env_list("THREADING_INBOX_TEAMS")
            ),
            snooze_check_seconds=env("THREADING_SNOOZE_CHECK_SECONDS", float, 30.0),
            queue_notice_channels=frozenset(
                _channel(name) for name in env_list("THREADING_QUEUE_NOTICE_CHANNELS", ("chat", "sms"))
            ),
            guess_languages=_languages(env_list("THREADING_GUESS_LANGUAGES", DEFAULT_LANGUAGES)),
            webhook_policy=_webhook_policy(),
            surveys=_survey_policy(),
        )


def _survey_policy() -> SurveyPolicy:
    low = env("THREADING_SURVEY_LOW_SCORE", int, 2)
    if not 0 <= low <= MAX_SCORE:
        raise ConfigError(f"THREADING_SURVEY_LOW_SCORE: a score from 0 (no follow-ups) to {MAX_SCORE}")
    days = env("THREADING_SURVEY_ANSWER_DAYS", float, 7.0)
    if days <= 0:
        raise ConfigError("THREADING_SURVEY_ANSWER_DAYS: a number of days above 0")
    return SurveyPolicy(
        channels=frozenset(
            _channel(name, "THREADING_SURVEY_CHANNELS")
            for name in env_list("THREADING_SURVEY_CHANNELS", ("chat", "sms", "email"))
        ),
        answer_window_us=int(days * DAY_US),
        low_score=low,
    )


def _webhook_policy() -> WebhookPolicy:
    default = WebhookPolicy()
    try:
        delays = tuple(
            float(d) for d in env_list("THREADING_WEBHOOK_RETRY_SECONDS", tuple(map(str, default.retry_delays_seconds)))
        )
    except ValueError:
        raise ConfigError("THREADING_WEBHOOK_RETRY_SECONDS: a list of seconds, e.g. 1,5,30,120,600") from None
    if not delays or min(delays) <= 0:
        raise ConfigError("THREADING_WEBHOOK_RETRY_SECONDS: at least one wait, each above 0")
    return WebhookPolicy(
        retry_delays_seconds=delays,
        disable_after_failures=env("THREADING_WEBHOOK_DISABLE_AFTER_FAILURES", int, default.disable_after_failures),
        disable_after_us=int(env("THREADING_WEBHOOK_DISABLE_AFTER_HOURS", float, 24.0) * HOUR_US),
    )


def _languages(codes: tuple[str, ...]) -> tuple[str, ...]:
    unknown = unsupported(codes)
    if unknown:
        raise ConfigError(f"THREADING_GUESS_LANGUAGES: {unknown} are not ISO 639-1 codes the language detector knows")
    return codes


def _channel(name: str, key: str = "THREADING_QUEUE_NOTICE_CHANNELS") -> str:
    try:
        return check_channel_name(name)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def _pairs(items: tuple[str, ...], key: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        inbox, sep, value = item.partition("=")
        if not sep or not inbox.strip() or not value.strip():
            raise ConfigError(f"{key}: {item!r} is not inbox=value")
        pairs[inbox.strip()] = value.strip()
    return pairs


def inbox_policies(default: ThreadPolicy, windows: tuple[str, ...], teams: tuple[str, ...]) -> ThreadPolicies:
    """`THREADING_INBOX_REOPEN_WINDOW_DAYS=sales=3,vip=30` and `THREADING_INBOX_TEAMS=support=tier1`."""
    window_days = _pairs(windows, "THREADING_INBOX_REOPEN_WINDOW_DAYS")
    team_of = _pairs(teams, "THREADING_INBOX_TEAMS")
    per_inbox = []
    for inbox in sorted(set(window_days) | set(team_of)):
        policy = default
        if inbox in window_days:
            try:
                policy = replace(policy, reopen_window_us=int(float(window_days[inbox]) * DAY_US))
            except ValueError:
                raise ConfigError(
                    f"THREADING_INBOX_REOPEN_WINDOW_DAYS: {window_days[inbox]!r} is not a number"
                ) from None
        if inbox in team_of:
            policy = replace(policy, team=team_of[inbox])
        per_inbox.append((inbox, policy))
    return ThreadPolicies(default=default, per_inbox=tuple(per_inbox))
