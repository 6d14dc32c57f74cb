"""Building an agent's reply as email, pure: multipart text + HTML, our Message-ID, threading headers."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

DEFAULT_SUBJECT = "Your conversation with us"


@dataclass(frozen=True)
class ReplyContext:
    """What we know of the customer mail being answered (empty when the conversation started elsewhere)."""

    email_message_id: str = ""
    references: tuple[str, ...] = ()
    subject: str = ""


def our_message_id(message_id: str, domain: str) -> str:
    return f"{message_id}@{domain}"


def message_id_from_ours(email_message_id: str, domain: str) -> str | None:
    """Our message id inside one of our Message-IDs, else None."""
    local, _, their_domain = email_message_id.rpartition("@")
    return local if local and their_domain.lower() == domain.lower() else None


def reply_subject(subject: str) -> str:
    if not subject:
        return DEFAULT_SUBJECT
    return subject if subject.lower().startswith("re:") else f"Re: {subject}"


def text_to_html(text: str) -> str:
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    body = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    return f'<!doctype html><html><body style="font-family:sans-serif">{body}</body></html>'


def build_reply(
    *,
    message_id: str,
    domain: str,
    from_address: str,
    from_name: str,
    to_address: str,
    text: str,
    context: ReplyContext,
    sent_at: datetime | None = None,
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = formataddr((from_name, from_address))
    mail["To"] = str(Address(addr_spec=to_address))
    # Replies come back to the inbox, never to a "do not reply" address.
    mail["Reply-To"] = from_address
    mail["Subject"] = reply_subject(context.subject)
    mail["Message-ID"] = f"<{our_message_id(message_id, domain)}>"
    mail["Date"] = format_datetime(sent_at or datetime.now(UTC))
    if context.email_message_id:
        mail["In-Reply-To"] = f"<{context.email_message_id}>"
        chain = [*context.references, context.email_message_id]
        mail["References"] = " ".join(f"<{i}>" for i in dict.fromkeys(chain))
    # Marks our own mail so that, should it loop back to us, it never opens a conversation.
    mail["X-Inbox-Loop"] = domain
    mail.set_content(text)
    mail.add_alternative(text_to_html(text), subtype="html")
    return mail
