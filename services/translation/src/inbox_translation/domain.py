"""Translation rules, pure: what must come out as it went in, which provider serves a pair, when a
detected language can be trusted."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from inbox_language import SENTIMENT_LANGUAGE, Detection
from inbox_runtime.errors import FailedPrecondition, InvalidInput

__all__ = ["FailedPrecondition", "InvalidInput"]  # re-exported: the errors this domain raises

MAX_TEXT_LENGTH = 20_000

# What is never translated, most specific first: code spans, URLs, email addresses, phone numbers,
# order/ticket references (ORD-4411, #12345, INV2024-0012).
_PROTECTED = re.compile(
    r"`[^`\n]+`"
    r"|\bhttps?://[^\s<>\"']+[^\s<>\"'.,;:!?)]"
    r"|\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"
    r"|\+?\d[\d ().-]{6,}\d"
    r"|#\d{3,}\b"
    r"|\b[A-Z]{2,}[-_]?\d[\w-]*\b"
)


def _placeholder(index: int) -> str:
    # Survives rule-based and neural engines alike: letters MT leaves alone, no punctuation to split on.
    return f"XQX{index}XQX"


@dataclass(frozen=True)
class Masked:
    text: str
    originals: tuple[str, ...]


def protect(text: str, glossary: Sequence[str] = ()) -> Masked:
    """Replace protected spans and glossary terms by placeholders that machine translation keeps."""
    spans: list[tuple[int, int]] = [m.span() for m in _PROTECTED.finditer(text)]
    for term in sorted({t for t in glossary if t.strip()}, key=len, reverse=True):
        for match in re.finditer(rf"(?<!\w){re.escape(term)}(?!\w)", text):
            spans.append(match.span())
    spans.sort()
    kept: list[tuple[int, int]] = []
    for start, end in spans:
        if kept and start < kept[-1][1]:
            continue  # overlaps an earlier span (a URL containing an order number, say)
        kept.append((start, end))
    pieces: list[str] = []
    originals: list[str] = []
    cursor = 0
    for start, end in kept:
        pieces.append(text[cursor:start])
        pieces.append(_placeholder(len(originals)))
        originals.append(text[start:end])
        cursor = end
    pieces.append(text[cursor:])
    return Masked("".join(pieces), tuple(originals))


def restore(translated: str, masked: Masked) -> str:
    """Put the protected spans back; refuse a translation that lost or altered any of them."""
    result = translated
    for index, original in enumerate(masked.originals):
        placeholder = _placeholder(index)
        if result.count(placeholder) != 1:
            raise FailedPrecondition("the engine did not keep protected text intact")
        result = result.replace(placeholder, original)
    return result


Pair = tuple[str, str]


@dataclass(frozen=True)
class Route:
    """How a pair is served: by one provider, or through English by two."""

    steps: tuple[tuple[str, str, str], ...]  # (provider, source, target)

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(step[0] for step in self.steps)


def choose_route(
    chain: Sequence[tuple[str, frozenset[Pair]]], source: str, target: str, pivot: str = ""
) -> Route | None:
    """The first provider in the chain offering the pair; else, with a pivot language, the first for
    each half; else None."""
    for name, pairs in chain:
        if (source, target) in pairs:
            return Route(((name, source, target),))
    if pivot and pivot not in (source, target):
        first = next((name for name, pairs in chain if (source, pivot) in pairs), None)
        second = next((name for name, pairs in chain if (pivot, target) in pairs), None)
        if first and second:
            return Route(((first, source, pivot), (second, pivot, target)))
    return None


def cache_key(text: str, source: str, target: str, glossary: Sequence[str] = ()) -> str:
    """Text, pair and glossary: a changed glossary must not serve translations made without it."""
    terms = "\x01".join(sorted(set(glossary)))
    return hashlib.sha256(f"{source}\x00{target}\x00{terms}\x00{text}".encode()).hexdigest()


MAX_GLOSSARY_TERMS = 500


def normalise_glossary(terms: Sequence[str]) -> tuple[str, ...]:
    cleaned = tuple(sorted({t.strip() for t in terms if t.strip()}))
    if len(cleaned) > MAX_GLOSSARY_TERMS:
        raise InvalidInput(f"a glossary holds at most {MAX_GLOSSARY_TERMS} terms")
    if any(len(t) > 100 for t in cleaned):
        raise InvalidInput("glossary terms are at most 100 characters")
    return cleaned


def guess_stands(stored_language: str, detection: Detection, known_language: str) -> bool:
    """Whether what threading stored with a message already says all that `detection` would. Threading
    stores a confident first guess on the message, and on the customer (and conversation) only where no
    language was known yet; an unsure guess stores nothing. So nothing changes when the detection names
    the stored language and is either unsure (it would set the message's language alone) or sure about a
    customer whose language was unknown or already that one. Anything else is announced, and threading
    corrects or completes what it holds."""
    return detection.language == stored_language and (detection.fallback or known_language in ("", stored_language))


# ISO 639-1 (ours) <-> ISO 639-3 (Apertium's pair names).
ISO3 = {"en": "eng", "es": "spa", "fr": "fra", "de": "deu", "it": "ita", "pt": "por", "ca": "cat", "nl": "nld"}
ISO1 = {three: one for one, three in ISO3.items()}


def validate_request(text: str, target: str, supported: Mapping[str, object] | None = None) -> str:
    if not text.strip():
        raise InvalidInput("text is required")
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidInput(f"text is longer than {MAX_TEXT_LENGTH} characters")
    if not re.fullmatch(r"[a-z]{2}", target or ""):
        raise InvalidInput("target_language must be an ISO 639-1 code such as 'es'")
    if supported is not None and target not in supported:
        raise InvalidInput(f"target_language {target!r} is not one of {sorted(supported)}")
    return text


@dataclass(frozen=True)
class CustomerMessage:
    """A customer's message the pipeline may still have to translate for their agent."""

    message_id: str
    conversation_id: str
    customer_id: str
    text: str
    language: str


class SentimentSource(Enum):
    """Which text of a customer's message the sentiment model reads."""

    AS_WRITTEN = "as_written"
    TRANSLATION = "translation"


def sentiment_source(language: str, scored_as_stored: bool) -> SentimentSource | None:
    """Threading scores a message stored as English; translation scores what it could not: English it did
    not know was English, and every other language, read from its English translation (which also replaces
    a score threading read from a text it took for English). None: nothing to score (already scored, or
    the language is unknown, so no translation can be asked for)."""
    if not language:
        return None
    if language == SENTIMENT_LANGUAGE:
        return None if scored_as_stored else SentimentSource.AS_WRITTEN
    return SentimentSource.TRANSLATION


def needs_translation(message_language: str, reader_language: str) -> bool:
    """Translate only between two known, different languages."""
    return bool(message_language) and bool(reader_language) and message_language != reader_language
