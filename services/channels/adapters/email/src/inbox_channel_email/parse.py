"""Reading a customer's email, pure: text, quoted history, attachments, threading headers, and whether
it is an automatic message (auto-reply, bounce, our own mail looping back) that must not open a conversation."""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses

import nh3
from email_reply_parser import EmailReplyParser

_BLOCK_END = re.compile(r"(?i)<br\s*/?>|</(p|div|li|tr|h[1-6]|blockquote)\s*>")
_BLANK_RUNS = re.compile(r"\n{3,}")
_MSGID = re.compile(r"<([^<>\s]+)>")
AUTOMATIC_SENDERS = {"mailer-daemon", "postmaster", "noreply", "no-reply", "do-not-reply", "donotreply"}


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ParsedEmail:
    message_id: str  # without angle brackets; derived from the content when the sender gave none
    in_reply_to: str
    references: tuple[str, ...]
    sender: str  # lower-case address
    sender_name: str
    recipients: tuple[str, ...]
    subject: str
    full_text: str
    visible_text: str
    attachments: tuple[ParsedAttachment, ...] = field(default_factory=tuple)
    # Why this mail must not open a conversation ("auto-reply", "bounce", "loop"), or "".
    automatic: str = ""
    # For a bounce: the Message-IDs of the mails it reports on.
    bounced_ids: tuple[str, ...] = ()


def html_to_text(markup: str) -> str:
    """Visible text of an HTML body: tags, scripts and styles removed, entities decoded, blocks on lines."""
    with_breaks = _BLOCK_END.sub("\n", markup)
    text = html.unescape(nh3.clean(with_breaks, tags=set()))
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def valid_text(text: str) -> str:
    """Text any store, protobuf or browser can hold. The mail parser keeps bytes it could not decode as
    lone surrogates ("surrogateescape"); they are read as UTF-8, the commonest unlabelled 8-bit text, and
    what is not UTF-8 either becomes U+FFFD."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate that is not an escaped byte
        return text.encode("utf-8", "replace").decode("utf-8")


def _header_all(message: Message, name: str) -> list[str]:
    """Every value of a header, as parsed, or as sent where the standard library's parser fails on it
    (it raises IndexError on a From of "grace@"): a malformed header must never lose the mail."""
    values: list[str] = []
    for key, raw in message.raw_items():
        if key.lower() == name.lower():
            try:
                values.append(valid_text(str(message.policy.header_fetch_parse(key, raw))))
            except Exception:  # any failure of the parser: keep the header as sent
                values.append(valid_text(str(raw)))
    return values


def _header(message: Message, name: str, default: str = "") -> str:
    """A header's first value (see _header_all), or `default`."""
    return next(iter(_header_all(message, name)), default)


def _ids(value: str | None) -> tuple[str, ...]:
    return tuple(_MSGID.findall(value or ""))


def _text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    try:
        content = body.get_content()
    except (LookupError, UnicodeDecodeError):  # unknown charset: keep what decodes
        payload = body.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    content = valid_text(content)
    if body.get_content_type() == "text/html":
        return html_to_text(content)
    return content.replace("\r\n", "\n").strip()


def _attachments(message: EmailMessage) -> list[ParsedAttachment]:
    found = []
    for part in message.iter_attachments():
        if not isinstance(part, EmailMessage) or part.get_content_maintype() == "multipart":
            continue
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            filename = valid_text(part.get_filename() or "") or "attachment"
            found.append(ParsedAttachment(filename, part.get_content_type(), data))
    return found


def _bounced_ids(message: EmailMessage) -> tuple[str, ...]:
    """Message-IDs named by a delivery report (its returned headers), or by the bounce's own references."""
    ids: list[str] = []
    for part in message.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            payload = part.get_payload()
            inner: list[Message] = [m for m in payload if isinstance(m, Message)] if isinstance(payload, list) else []
            if part.get_content_type() == "text/rfc822-headers":
                text = part.get_payload(decode=True)
                if isinstance(text, bytes):
                    inner = [BytesParser(policy=policy.default).parsebytes(text, headersonly=True)]
            for original in inner:
                ids.extend(_ids(_header(original, "Message-ID", "")))
    ids.extend(_ids(_header(message, "In-Reply-To", "")))
    ids.extend(_ids(_header(message, "References", "")))
    return tuple(dict.fromkeys(ids))


def classify(message: EmailMessage, sender: str, message_id: str, our_domain: str) -> str:
    auto_submitted = _header(message, "Auto-Submitted", "no").strip().lower()
    precedence = _header(message, "Precedence", "").strip().lower()
    local_part = sender.split("@", 1)[0]
    if message_id.lower().endswith("@" + our_domain.lower()) or _header(message, "X-Inbox-Loop"):
        return "loop"
    if (
        message.get_content_type() == "multipart/report"
        and str(message.get_param("report-type", "")).lower() == "delivery-status"
    ) or local_part in ("mailer-daemon", "postmaster"):
        return "bounce"
    if (
        auto_submitted not in ("", "no")
        or precedence in ("bulk", "junk", "list", "auto_reply")
        or _header(message, "X-Autoreply")
        or _header(message, "X-Autorespond")
        or local_part in AUTOMATIC_SENDERS
        or _header(message, "Return-Path", "").strip() == "<>"
    ):
        return "auto-reply"
    return ""


# Where a mail with no usable sender anywhere comes from: a contact point of its own, one per mail, that an
# agent merges into the right customer (or edits) once they know who wrote.
UNKNOWN_SENDER_DOMAIN = "unknown-sender.invalid"


def choose_sender(headers: list[tuple[str, str]], envelope_sender: str, raw: bytes) -> tuple[str, str]:
    """(name, lower-case address) of who wrote: the first valid address of `From`, `Reply-To`, `Sender`
    (in that order of the `headers` given), then the SMTP envelope's MAIL FROM; failing all of them an
    unknown sender's address derived from the content, so the mail is never lost for want of one."""
    for name, value in headers:
        for display, address in getaddresses([value]):
            if is_valid_address(address.strip()):
                return display or name, address.strip().lower()
    envelope = envelope_sender.strip().strip("<>").lower()
    if is_valid_address(envelope):
        return "", envelope
    return "Unknown sender", f"{hashlib.sha256(raw).hexdigest()[:16]}@{UNKNOWN_SENDER_DOMAIN}"


def parse_email(raw: bytes, our_domain: str, envelope_sender: str = "") -> ParsedEmail:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    # `From: Grace` (no address) still names the writer.
    from_name = next(
        (d or (a if "@" not in a else "") for d, a in getaddresses([_header(message, "From", "")]) if d or a), ""
    )
    sender_name, sender = choose_sender(
        [(from_name, _header(message, h, "")) for h in ("From", "Reply-To", "Sender")], envelope_sender, raw
    )
    ids = _ids(_header(message, "Message-ID", ""))
    # No Message-ID (rare, broken clients): the content itself identifies a retry.
    message_id = ids[0] if ids else f"{hashlib.sha256(raw).hexdigest()[:32]}@no-message-id"
    full_text = _text_of(message)
    automatic = classify(message, sender, message_id, our_domain)
    recipients = tuple(a.lower() for _, a in getaddresses(_header_all(message, "To")) if a)
    return ParsedEmail(
        message_id=message_id,
        in_reply_to=next(iter(_ids(_header(message, "In-Reply-To", ""))), ""),
        references=_ids(_header(message, "References", "")),
        sender=sender,
        sender_name=sender_name,
        recipients=recipients,
        subject=_header(message, "Subject", "").strip(),
        full_text=full_text,
        visible_text=EmailReplyParser.parse_reply(full_text).strip() or full_text,
        attachments=tuple(_attachments(message)),
        automatic=automatic,
        bounced_ids=_bounced_ids(message) if automatic == "bounce" else (),
    )


def is_valid_address(address: str) -> bool:
    try:
        parsed = Address(addr_spec=address)
    except (ValueError, IndexError):
        return False
    return bool((parsed.username and parsed.domain and "." in parsed.domain) or parsed.domain == "localhost")
