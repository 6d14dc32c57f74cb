"""Handoff summaries, extractive and offline: what the next agent reads first, drawn only from what was said.

Sentences are split by pySBD (rule-based, many languages) and ranked by LexRank (sumy: sentence centrality
over TF-IDF similarity, with the language's stemmer and stop words shipped in the packages), so a summary
quotes the conversation and never invents. Four parts, each sentence linked to the message it came from:

- who the customer is (from the profile: name, channels, tenure, attributes, mood);
- what they want: the customer's most central sentences, and what they said last unless it is a question;
- what was already tried or promised: agents' sentences that say what they did or will do;
- open questions: the customer's questions after the last agent reply.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from inbox_language import label_of

from inbox_threading.domain import (
    CHAT_VISITOR,
    SYSTEM_AGENT,
    Conversation,
    CustomerFacts,
    Direction,
    ItemKind,
    StoredMessage,
    customer_label,
)

if TYPE_CHECKING:
    import pysbd

# ISO 639-1 -> the names sumy's stemmers and stop-word lists go by (the languages both ship).
SUMY_LANGUAGES = {
    "en": "english",
    "es": "spanish",
    "fr": "french",
    "de": "german",
    "pt": "portuguese",
    "it": "italian",
    "nl": "dutch",
}
# pySBD's languages among ours.
SEGMENTER_LANGUAGES = frozenset({"en", "es", "fr", "de", "it", "nl"})
WANTS = 2
DONE = 3
QUESTIONS = 3
MAX_SENTENCE = 300
# How an agent says what they did or will do (English; in another language the most central sentences of
# the agents are taken instead).
_ACTION = re.compile(
    r"\b(i|we)\s*('ll|'ve|will|have|already|just|can|are going to)\b|\b(tried|sent|refund\w*|replac\w*|"
    r"escalat\w*|promis\w*|arrang\w*|reset|resent|cancel\w*|credit\w*|booked|scheduled|checked|opened a)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Said:
    """A message of the conversation as the summary reads it (in the reader's language when translated)."""

    message_id: str
    by_customer: bool
    text: str


@dataclass(frozen=True)
class Point:
    text: str
    message_ids: tuple[str, ...]


@dataclass(frozen=True)
class Summary:
    who: str
    wants: tuple[Point, ...]
    done: tuple[Point, ...]
    open_questions: tuple[Point, ...]

    @property
    def sources(self) -> tuple[str, ...]:
        """Every message a point was drawn from, once, in the order they are cited."""
        seen: dict[str, None] = {}
        for point in (*self.wants, *self.done, *self.open_questions):
            seen.update(dict.fromkeys(point.message_ids))
        return tuple(seen)

    def parts(self) -> tuple[tuple[str, tuple[Point, ...]], ...]:
        return (("wants", self.wants), ("tried_or_promised", self.done), ("open_questions", self.open_questions))

    def points_json(self) -> str:
        """Every point with the messages it quotes, kept with the note so a reader can link to them."""
        return json.dumps(
            [
                {"part": part, "text": p.text, "message_ids": list(p.message_ids)}
                for part, ps in self.parts()
                for p in ps
            ]
        )

    def as_note(self, reason: str) -> str:
        """The summary as the note the next agent reads first."""
        lines = [f"Summary for the next agent ({reason})", f"Who: {self.who}"]
        for title, points, empty in (
            ("Wants", self.wants, "nothing said yet"),
            ("Tried or promised", self.done, "nothing yet"),
            ("Open questions", self.open_questions, "none"),
        ):
            lines.append(f"{title}:" if points else f"{title}: {empty}")
            lines.extend(f"- {p.text}" for p in points)
        return "\n".join(lines)


class _Words:
    """sumy's tokenizer protocol: sentences are split beforehand, words are runs of letters and digits."""

    def __init__(self, language: str) -> None:
        self.language = language

    def to_words(self, sentence: str) -> tuple[str, ...]:
        return tuple(_WORD.findall(sentence))


class Summarizer:
    """One per process: the segmenters and rankers are built once per language, then reused. pySBD, sumy and
    NLTK are imported on the first summary, not at start: a quarter of a second and 30 MB that a replica
    pays only once a conversation changes hands."""

    def __init__(self) -> None:
        self._segmenters: dict[str, pysbd.Segmenter] = {}
        self._rankers: dict[str, tuple[Any, _Words]] = {}

    def summarise(self, who: str, said: Sequence[Said], language: str = "en") -> Summary:
        sentences = [
            (s.message_id, s.by_customer, sentence) for s in said for sentence in self._split(s.text, language)
        ]
        customer = [(m, t) for m, by_customer, t in sentences if by_customer]
        agents = [(m, t) for m, by_customer, t in sentences if not by_customer]
        acted = [(m, t) for m, t in agents if _ACTION.search(t)] if language == "en" else agents
        last_agent = max((i for i, s in enumerate(said) if not s.by_customer), default=-1)
        asked_since = {s.message_id for s in said[last_agent + 1 :] if s.by_customer}
        questions = [(m, t) for m, t in customer if m in asked_since and t.rstrip().endswith("?")]
        open_questions = tuple(Point(t, (m,)) for m, t in questions[-QUESTIONS:])
        wants = self._central(customer, WANTS, language)
        if customer and all(customer[-1][0] not in p.message_ids for p in (*wants, *open_questions)):
            # What they said last brought the conversation to the next agent: its longest sentence is in.
            latest = customer[-1][0]
            said_last = max((t for m, t in customer if m == latest), key=len)
            wants = (*wants, Point(said_last, (latest,)))
        return Summary(who=who, wants=wants, done=self._central(acted, DONE, language), open_questions=open_questions)

    def _split(self, text: str, language: str) -> list[str]:
        code = language if language in SEGMENTER_LANGUAGES else "en"
        segmenter = self._segmenters.get(code)
        if segmenter is None:
            import pysbd

            segmenter = self._segmenters[code] = pysbd.Segmenter(language=code, clean=False)
        split = (" ".join(s.split()) for s in segmenter.segment(" ".join(text.split())))
        return [s[:MAX_SENTENCE] for s in split if _WORD.search(s)]

    def _central(self, sentences: list[tuple[str, str]], count: int, language: str) -> tuple[Point, ...]:
        """The `count` most central sentences (LexRank), in the order they were said."""
        if len(sentences) <= count:
            return tuple(Point(t, (m,)) for m, t in sentences)
        from sumy.models.dom import ObjectDocumentModel, Paragraph, Sentence

        ranker, words = self._ranker(language)
        document = ObjectDocumentModel([Paragraph([Sentence(t, words) for _, t in sentences])])
        best = {str(s) for s in ranker(document, count)}
        chosen: list[Point] = []
        for message_id, text in sentences:
            if text in best and all(p.text != text for p in chosen):
                chosen.append(Point(text, (message_id,)))
        return tuple(chosen[:count])

    def _ranker(self, language: str) -> tuple[Any, _Words]:
        name = SUMY_LANGUAGES.get(language, "english")
        ranker = self._rankers.get(name)
        if ranker is None:
            from sumy.nlp.stemmers import Stemmer
            from sumy.summarizers.lex_rank import LexRankSummarizer
            from sumy.utils import get_stop_words

            summarizer = LexRankSummarizer(Stemmer(name))
            summarizer.stop_words = get_stop_words(name)
            ranker = self._rankers[name] = (summarizer, _Words(name))
        return ranker


# What a summary reads: what the customer and the agents said (not notes, activity, or automatic notices).
SAID_KINDS = (ItemKind.TEXT, ItemKind.VOICEMAIL)
_CONTACT_KINDS = {1: "email", 2: "phone", 3: "chat visitor", 4: "account", 5: "account"}


def reading_language(items: Sequence[StoredMessage]) -> str:
    """The language agents read the customer in: the one their messages were most translated into."""
    counted = Counter(language for m in items if m.direction == Direction.INBOUND for language, _ in m.translations)
    return counted.most_common(1)[0][0] if counted else ""


def said_in(items: Sequence[StoredMessage], language: str) -> list[Said]:
    """The conversation's messages either way, the customer's in `language` where translated."""
    said = []
    for m in items:
        if m.kind not in SAID_KINDS or m.direction == Direction.INTERNAL or m.agent_id == SYSTEM_AGENT:
            continue
        by_customer = m.direction == Direction.INBOUND
        text = dict(m.translations).get(language, m.text) if by_customer and language else m.text
        if text.strip():
            said.append(Said(m.message_id, by_customer, text))
    return said


def who_line(conversation: Conversation, facts: CustomerFacts | None, now_us: int) -> str:
    """The customer at a glance: name (or first contact), channels, tenure, attributes, mood."""
    if facts is None:
        return conversation.customer_label or "Customer"
    first = facts.contact_points[0] if facts.contact_points else None
    parts = [conversation.customer_label or customer_label(facts.display_name, first) or "Customer"]
    # A chat visitor's id says nothing to an agent (the label already names the visitor).
    reachable = [c for c in facts.contact_points if c.kind != CHAT_VISITOR][:3]
    contacts = ", ".join(f"{_CONTACT_KINDS.get(c.kind, 'contact')} {c.value}" for c in reachable)
    if contacts:
        parts.append(contacts)
    days = facts.tenure_days(now_us)
    conversations = f"{facts.conversation_count} conversation{'s' if facts.conversation_count != 1 else ''}"
    parts.append(f"customer for {days} day{'s' if days != 1 else ''}, {conversations}")
    if facts.channels_used:
        parts.append("on " + ", ".join(facts.channels_used))
    parts.extend(f"{key}: {value}" for key, value in facts.attributes)
    if conversation.mood is not None:
        trend = "" if conversation.mood.trend == "steady" else f", {conversation.mood.trend}"
        parts.append(f"mood {label_of(conversation.mood.score).replace('_', ' ')}{trend}")
    return " · ".join(parts)


# A transcript's speakers: the customer's lines are what they want; the bot's, what it tried.
_CUSTOMER_LINE = re.compile(r"^\s*(customer|user|visitor|client|you)\s*:\s*(.+)$", re.IGNORECASE)
_BOT_LINE = re.compile(r"^\s*(bot|assistant|agent|system|support)\s*:\s*(.+)$", re.IGNORECASE)


def transcript_said(transcript: str, source_id: str) -> list[Said]:
    """The lines of a bot's transcript that name their speaker ("Customer: ...", "Bot: ..."), each linked to
    `source_id` (the note carrying the transcript); lines without a speaker are left out."""
    said = []
    for line in transcript.splitlines():
        if found := _CUSTOMER_LINE.match(line):
            said.append(Said(source_id, True, found.group(2).strip()))
        elif found := _BOT_LINE.match(line):
            said.append(Said(source_id, False, found.group(2).strip()))
    return said
