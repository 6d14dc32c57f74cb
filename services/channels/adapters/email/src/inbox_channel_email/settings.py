from __future__ import annotations

from dataclasses import dataclass

from inbox_runtime.config import ConfigError, env, env_list

from inbox_channel_email.parse import is_valid_address


@dataclass(frozen=True)
class EmailSettings:
    # Our support addresses (lower case) and the inbox each belongs to.
    inboxes: dict[str, str]
    from_name: str
    # Domain of our Message-IDs; replies and bounces naming it are recognised as ours.
    domain: str
    bind_host: str
    smtp_port: int
    max_message_bytes: int
    max_attachment_bytes: int
    relay_host: str
    relay_port: int
    relay_username: str
    relay_password: str
    relay_starttls: bool
    # Where customers reach the channels service (the survey links' base), and the survey links' signing
    # secret: with both, a survey mail carries one-click links; else it asks for a reply with the number.
    public_base_url: str = ""
    survey_secret: str = ""

    @classmethod
    def from_env(cls) -> EmailSettings:
        inboxes: dict[str, str] = {}
        for item in env_list("CHANNELS_EMAIL_INBOXES"):
            address, _, inbox = item.partition("=")
            address = address.strip().lower()
            if not is_valid_address(address):
                raise ConfigError(f"CHANNELS_EMAIL_INBOXES: {address!r} is not an email address")
            inboxes[address] = inbox.strip() or "email"
        if not inboxes:
            raise ConfigError(
                "environment variable CHANNELS_EMAIL_INBOXES is required (e.g. support@example.com=support)"
            )
        first_domain = next(iter(inboxes)).rpartition("@")[2]
        return cls(
            inboxes=inboxes,
            from_name=env("CHANNELS_EMAIL_FROM_NAME", str, "Support"),
            domain=env("CHANNELS_EMAIL_DOMAIN", str, first_domain).lower(),
            bind_host=env("BIND_HOST", str, "127.0.0.1"),
            smtp_port=env("CHANNELS_SMTP_PORT", int, 2525),
            max_message_bytes=env("CHANNELS_EMAIL_MAX_BYTES", int, 25 * 1024 * 1024),
            max_attachment_bytes=env("CHANNELS_EMAIL_MAX_ATTACHMENT_BYTES", int, 10 * 1024 * 1024),
            relay_host=env("CHANNELS_EMAIL_RELAY_HOST", str, ""),
            relay_port=env("CHANNELS_EMAIL_RELAY_PORT", int, 25),
            relay_username=env("CHANNELS_EMAIL_RELAY_USERNAME", str, ""),
            relay_password=env("CHANNELS_EMAIL_RELAY_PASSWORD", str, ""),
            relay_starttls=env("CHANNELS_EMAIL_RELAY_STARTTLS", bool, False),
            public_base_url=env("CHANNELS_PUBLIC_BASE_URL", str, "").rstrip("/"),
            survey_secret=env("CHANNELS_SURVEY_SECRET", str, ""),
        )

    @property
    def domains(self) -> set[str]:
        return {address.rpartition("@")[2] for address in self.inboxes}
