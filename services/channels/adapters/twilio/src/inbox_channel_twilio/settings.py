from __future__ import annotations

from dataclasses import dataclass

from inbox_runtime.config import ConfigError, env, env_list, secret

from inbox_channel_twilio.texts import to_e164


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str
    auth_token: str
    # Twilio's REST API, or a compatible provider's.
    api_base_url: str
    # How providers reach our webhooks (signatures cover this URL, not the one behind a proxy).
    public_base_url: str
    # Our numbers (E.164) and the inbox each one belongs to.
    numbers: dict[str, str]
    default_region: str

    @classmethod
    def from_env(cls) -> TwilioSettings:
        numbers: dict[str, str] = {}
        for item in env_list("CHANNELS_TWILIO_NUMBERS"):
            number, _, inbox = item.partition("=")
            numbers[to_e164(number)] = inbox or "phone"
        if not numbers:
            raise ConfigError("environment variable CHANNELS_TWILIO_NUMBERS is required (e.g. +14155550100=support)")
        return cls(
            account_sid=env("CHANNELS_TWILIO_ACCOUNT_SID"),
            auth_token=secret("CHANNELS_TWILIO_AUTH_TOKEN"),
            api_base_url=env("CHANNELS_TWILIO_API_BASE_URL", str, "https://api.twilio.com").rstrip("/"),
            public_base_url=env("CHANNELS_PUBLIC_BASE_URL").rstrip("/"),
            numbers=numbers,
            default_region=env("CHANNELS_DEFAULT_REGION", str, "US"),
        )

    @property
    def first_number(self) -> str:
        return next(iter(self.numbers))
