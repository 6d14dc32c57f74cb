"""The translation service's repository: translations already made (the cache)."""

from __future__ import annotations

from typing import Protocol

from inbox_translation.domain import CustomerMessage


class TranslationStore(Protocol):
    async def cached(self, key: str) -> tuple[str, str] | None:
        """(translated text, provider) for a cache key."""
        ...

    async def remember(self, key: str, text: str, provider: str, now_us: int, owner: str = "") -> None:
        """Keep a translation; `owner`, the customer whose words (or whose reply) it translates, so that
        erasing them erases it."""
        ...

    async def own(self, key: str, owner: str) -> None:
        """A cached translation now translates `owner`'s words too."""
        ...

    async def customer_language(self, customer_id: str) -> str: ...

    async def remember_customer_language(self, customer_id: str, language: str) -> None: ...

    async def set_conversation_agent(self, conversation_id: str, agent_id: str) -> None: ...

    async def conversation_agent(self, conversation_id: str) -> str: ...

    async def remember_message(self, message: CustomerMessage, customer_language: str = "") -> None:
        """Keep a customer's message for their conversation's agent, and with it, when given, the customer's
        language (as `remember_customer_language`)."""
        ...

    async def untranslated(self, conversation_id: str, language: str) -> list[CustomerMessage]: ...

    async def mark_translated(self, message_id: str, language: str) -> None: ...

    async def forget_customer(self, customer_id: str) -> None:
        """Erase the customer: their messages, their language, and every cached translation they own."""
        ...

    async def merge_customers(self, surviving_customer_id: str, merged_customer_id: str) -> None:
        """What was kept for the merged customer now belongs to the survivor (whose language, if known, stays)."""
        ...

    async def glossary(self, tenant_id: str) -> tuple[str, ...]: ...

    async def set_glossary(self, tenant_id: str, terms: tuple[str, ...]) -> None: ...

    async def wait_ready(self) -> None:
        """Return once the store answers; retry meanwhile, saying so in the log."""
        ...

    async def close(self) -> None: ...
