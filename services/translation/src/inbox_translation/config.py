from __future__ import annotations

from dataclasses import dataclass

from inbox_runtime.config import CommonSettings, env, env_list


@dataclass(frozen=True)
class Settings:
    common: CommonSettings
    grpc_port: int
    # Provider names in order of preference; none configured means translation is off.
    providers: tuple[str, ...]

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            common=CommonSettings.from_env(),
            grpc_port=env("TRANSLATION_GRPC_PORT", int, 50053),
            providers=env_list("TRANSLATION_PROVIDERS"),
        )
