from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inbox_language import DEFAULT_LANGUAGES, DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_MARGIN, unsupported
from inbox_runtime.config import CommonSettings, ConfigError, env, env_list, secret

from inbox_translation.providers import TranslationProvider
from inbox_translation.providers.apertium import ApertiumProvider
from inbox_translation.providers.deepl import DeepLProvider
from inbox_translation.providers.libretranslate import LibreTranslateProvider

KNOWN_PROVIDERS = ("apertium", "libretranslate", "deepl")


@dataclass(frozen=True)
class Settings:
    common: CommonSettings
    grpc_port: int
    db_path: Path
    # Provider names in order of preference: the first offering a pair serves it.
    providers: tuple[str, ...]
    pivot: str
    languages: tuple[str, ...]
    min_confidence: float
    min_margin: float
    glossary: tuple[str, ...]
    # Agents' languages come from routing.
    routing_target: str

    @classmethod
    def from_env(cls) -> Settings:
        common = CommonSettings.from_env()
        providers = env_list("TRANSLATION_PROVIDERS", ("apertium",))
        unknown = sorted(set(providers) - set(KNOWN_PROVIDERS))
        if unknown:
            raise ConfigError(f"TRANSLATION_PROVIDERS: unknown {unknown}; known: {list(KNOWN_PROVIDERS)}")
        languages = env_list("TRANSLATION_LANGUAGES", DEFAULT_LANGUAGES)
        unknown = unsupported(languages)
        if unknown:
            raise ConfigError(f"TRANSLATION_LANGUAGES: {unknown} are not ISO 639-1 codes the language detector knows")
        return cls(
            common=common,
            grpc_port=env("TRANSLATION_GRPC_PORT", int, 50053),
            db_path=env("TRANSLATION_DB_PATH", Path, common.data_dir / "translation.sqlite3"),
            providers=providers,
            pivot=env("TRANSLATION_PIVOT", str, "en"),
            languages=languages,
            min_confidence=env("TRANSLATION_MIN_CONFIDENCE", float, DEFAULT_MIN_CONFIDENCE),
            min_margin=env("TRANSLATION_MIN_MARGIN", float, DEFAULT_MIN_MARGIN),
            glossary=env_list("TRANSLATION_GLOSSARY"),
            routing_target=env("ROUTING_GRPC_TARGET", str, "127.0.0.1:50052"),
        )


def build_providers(names: tuple[str, ...]) -> list[TranslationProvider]:
    """The configured engines, each reading its own address and key."""
    built: list[TranslationProvider] = []
    for name in names:
        if name == "apertium":
            built.append(ApertiumProvider(env("TRANSLATION_APERTIUM_URL", str, "http://127.0.0.1:2737")))
        elif name == "libretranslate":
            built.append(
                LibreTranslateProvider(
                    env("TRANSLATION_LIBRETRANSLATE_URL"), env("TRANSLATION_LIBRETRANSLATE_KEY", str, "")
                )
            )
        else:
            built.append(
                DeepLProvider(
                    env("TRANSLATION_DEEPL_URL", str, "https://api-free.deepl.com"),
                    secret("TRANSLATION_DEEPL_KEY", min_length=8),
                )
            )
    return built
