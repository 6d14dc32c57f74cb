"""Reading a customer's email, pure: text, quoted history, attachments, threading headers, and whether
it is an automatic message (auto-reply, bounce, our own mail looping back) that must not open a conversation."""

from __future__ import annotations

import binascii
import hashlib
import html
import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses

import charset_normalizer
import nh3
from email_reply_parser import EmailReplyParser

_BLOCK_END = re.compile(r"(?i)<br\s*/?>|</(p|div|li|tr|h[1-6]|blockquote)\s*>")
_BLANK_RUNS = re.compile(r"\n{3,}")
_MSGID = re.compile(r"<([^<>\s]+)>")
# Parts of a delivery report, never shown as attachments.
_REPORT_PARTS = ("message/delivery-status", "text/rfc822-headers", "message/disposition-notification")


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
    lone surrogates ("surrogateescape"); they are read as UTF-8, the commonest unlabelled 8-bit text, else
    as Windows-1252 (an unlabelled 8-bit header is Western European more often than anything else) when
    no UTF-8 sequence in them decodes; U+FFFD for what fits neither."""
    if not any("\udc80" <= c <= "\udcff" for c in text):
        return text.encode("utf-8", "replace").decode("utf-8")  # nothing escaped; lone surrogates replaced
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that is not an escaped byte
        return text.encode("utf-8", "replace").decode("utf-8")
    return decode_text(data, "us-ascii")


def _header_all(message: Message, name: str) -> list[str]:
    """Every value of a header, as parsed, or as sent where the standard library's parser fails on it
    (it raises IndexError on a From of "grace@"): a malformed header must never lose the mail."""
    values: list[str] = []
    for key, raw in message.raw_items():
        if key.lower() == name.lower():
            if any("\udc80" <= c <= "\udcff" for c in str(raw)):
                # 8-bit bytes sent as they are: the standard parser would make each one a U+FFFD.
                values.append(" ".join(valid_text(str(raw)).split()))
                continue
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


# Labels mail clients send for a charset whose superset is what they really wrote in.
_CHARSET_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "iso-8859-1": "cp1252",
    "us-ascii": "ascii",
}
# What a label's 8-bit text really is when it does not decode as labelled: a 7-bit Japanese label on
# Shift_JIS or EUC-JP bytes, Chinese labels on Big5.
_CHARSET_MISLABELS = {
    "iso-2022-jp": ("cp932", "euc_jp"),
    "gb2312": ("big5",),
    "ascii": ("cp1252",),
    "us-ascii": ("cp1252",),
}
_UUENCODED = re.compile(r"^begin [0-7]{3,4} (?P<name>[^\r\n]+)\r?\n(?P<body>.*?)^end[ \t]*$\r?\n?", re.M | re.S)


def decode_text(data: bytes, label: str) -> str:
    """A text part's bytes as text: in its label's charset (or the superset clients mean by it), else as
    UTF-8 (even with a damaged byte or two, rather than a wrong guess), else in what such a label is
    known to hide (Shift_JIS behind ISO-2022-JP), else in what charset-normalizer finds; U+FFFD only where
    nothing fits."""
    wanted = (label or "").strip().lower()

    def strictly(charsets: tuple[str, ...]) -> str | None:
        for charset in charsets:
            try:
                return data.decode(charset)
            except (LookupError, UnicodeDecodeError):
                continue
        return None

    labelled = strictly(tuple(c for c in (_CHARSET_SUPERSETS.get(wanted, wanted), "utf-8") if c))
    if labelled is not None:
        return labelled
    lenient = data.decode("utf-8", "replace")
    decoded = sum(1 for c in lenient if ord(c) > 127 and c != "\ufffd")
    if decoded and lenient.count("\ufffd") <= decoded:
        return lenient
    mislabelled = strictly(_CHARSET_MISLABELS.get(wanted, ()))
    if mislabelled is not None:
        return mislabelled
    best = charset_normalizer.from_bytes(data).best()
    return str(best) if best is not None else lenient


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return valid_text(decode_text(payload, str(part.get_content_charset() or ""))).replace("\r\n", "\n")


def _text_of(message: EmailMessage) -> tuple[str, tuple[Message, ...]]:
    """The body as text (the plain part, or the HTML one when the plain one is empty or missing), and the
    parts it was read from."""
    plain, markup = message.get_body(preferencelist=("plain",)), message.get_body(preferencelist=("html",))
    text = _part_text(plain).strip() if plain is not None else ""
    if not text and markup is not None:
        text = html_to_text(_part_text(markup))
    return text, tuple(p for p in (plain, markup) if p is not None)


def _leaves(part: Message) -> Iterator[Message]:
    """The parts that hold content, depth first; a forwarded mail (message/rfc822) is one, whole."""
    if part.get_content_type() != "message/rfc822" and part.is_multipart():
        for inner in part.get_payload():
            if isinstance(inner, Message):
                yield from _leaves(inner)
    else:
        yield part


def _attachment_of(part: Message) -> ParsedAttachment | None:
    content_type = part.get_content_type()
    if content_type == "message/rfc822":
        inner = next((m for m in part.get_payload() if isinstance(m, Message)), None)
        if inner is None:
            return None
        subject = " ".join(_header(inner, "Subject", "").split())[:150] or "Forwarded message"
        return ParsedAttachment(f"{subject}.eml", content_type, inner.as_bytes(policy=policy.SMTP))
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return None
    filename = valid_text(part.get_filename() or "")
    if not filename:
        content_id = part.get("Content-ID", "").strip().strip("<>").split("@", 1)[0]
        filename = (content_id or "attachment") + (mimetypes.guess_extension(content_type) or "")
    return ParsedAttachment(filename, content_type, data)


def _attachments(message: EmailMessage, body: tuple[Message, ...]) -> list[ParsedAttachment]:
    """Every part that is not the body: attachments, inline images (multipart/related), forwarded mails,
    and a whole mail that is one PDF or picture. Text parts without a name are alternatives of the body."""
    found = []
    for part in _leaves(message):
        if any(part is b for b in body):
            continue
        disposition = part.get_content_disposition()
        if part.get_content_maintype() == "text" and not part.get_filename() and disposition != "attachment":
            continue
        if part.get_content_type() in _REPORT_PARTS:
            continue
        attachment = _attachment_of(part)
        if attachment is not None:
            found.append(attachment)
    return found


def _uudecoded(text: str) -> tuple[str, list[ParsedAttachment]]:
    """Files uuencoded inside the text (old clients do that), taken out of it."""
    found = []
    for block in _UUENCODED.finditer(text):
        data = bytearray()
        try:
            for line in block.group("body").splitlines():
                if line.strip() and line.strip() != "`":
                    data += binascii.a2b_uu(line)
        except binascii.Error:
            continue
        found.append(ParsedAttachment(block.group("name").strip(), "application/octet-stream", bytes(data)))
    if not found:
        return text, []
    return _UUENCODED.sub("", text).strip(), found


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


def _report_actions(message: EmailMessage) -> set[str]:
    """The `Action:` of each recipient in a delivery report (failed, delayed, delivered, ...)."""
    actions = set()
    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            for block in part.get_payload() if isinstance(part.get_payload(), list) else []:
                if isinstance(block, Message) and block.get("Action"):
                    actions.add(str(block.get("Action")).strip().lower())
    return actions


# Where quoted history starts in the clients' reply formats: a header block (Outlook, Lotus Notes) in
# English, German, French, Spanish; an attribution line ("On ... wrote:"); a separator line.
_QUOTE_FROM = re.compile(r"^\s*\*?(from|von|de|da)\s?\*?\s?:", re.I)
_QUOTE_WHEN_OR_TO = re.compile(
    r"^\s*\*?(sent|date|gesendet|datum|envoy[ée]|date d'envoi|enviado|enviado el|fecha|to|an|[àa]|para)\s?\*?\s?:",
    re.I,
)
_QUOTE_ATTRIBUTION = re.compile(r"^\s*(on\s.+wrote|am\s.+schrieb.*|le\s.+a\s[ée]crit|el\s.+escribi[óo])\s?:\s*$", re.I)
_QUOTE_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|mensaje original"
    r"|forwarded by .+|weitergeleitet von .+)\s*-{2,}\s*$|^\s*_{10,}\s*$",
    re.I,
)


def strip_quoted_history(text: str) -> str:
    """The text above the quoted history, when a client's reply format shows where that starts."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        header_block = _QUOTE_FROM.match(line) and any(
            _QUOTE_WHEN_OR_TO.match(later) for later in lines[index + 1 : index + 4]
        )
        if header_block or _QUOTE_ATTRIBUTION.match(line) or _QUOTE_SEPARATOR.match(line):
            above = "\n".join(lines[:index]).strip()
            return above or text
    return text


def classify(message: EmailMessage, sender: str, message_id: str, our_domain: str) -> str:
    auto_submitted = _header(message, "Auto-Submitted", "no").strip().lower()
    precedence = _header(message, "Precedence", "").strip().lower()
    local_part = sender.split("@", 1)[0]
    if message_id.lower().endswith("@" + our_domain.lower()) or _header(message, "X-Inbox-Loop"):
        return "loop"
    is_report = (
        message.get_content_type() == "multipart/report"
        and str(message.get_param("report-type", "")).lower() == "delivery-status"
    )
    if is_report and _report_actions(message) == {"delayed"}:
        # Still trying: the reply is not failed (yet), and nothing here is for an agent.
        return "delay"
    if is_report or local_part in ("mailer-daemon", "postmaster"):
        return "bounce"
    if (
        auto_submitted not in ("", "no")
        or precedence in ("bulk", "junk", "list", "auto_reply")
        or _header(message, "X-Autoreply")
        or _header(message, "X-Autorespond")
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


_HEADER_LINE = re.compile(rb"^[!-9;-~]+[ \t]*:")


def repair_headers(raw: bytes) -> bytes:
    """A header folded onto a line without the leading space (a broken client) is joined back to the header
    it continues, instead of ending the headers there and pushing the rest (From, To, ...) into the body."""
    end = min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0), default=-1)
    if end < 0:
        return raw
    lines = raw[:end].split(b"\n")
    repaired = [lines[0]] + [
        line if not line.strip(b"\r") or line[:1] in b" \t" or _HEADER_LINE.match(line) else b" " + line
        for line in lines[1:]
    ]
    return b"\n".join(repaired) + raw[end:]


def parse_email(raw: bytes, our_domain: str, envelope_sender: str = "") -> ParsedEmail:
    message = BytesParser(policy=policy.default).parsebytes(repair_headers(raw))
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
    text, body = _text_of(message)
    full_text, uuencoded = _uudecoded(text)
    automatic = classify(message, sender, message_id, our_domain)
    recipients = tuple(a.lower() for _, a in getaddresses(_header_all(message, "To")) if a)
    shown = strip_quoted_history(full_text)
    return ParsedEmail(
        message_id=message_id,
        in_reply_to=next(iter(_ids(_header(message, "In-Reply-To", ""))), ""),
        references=_ids(_header(message, "References", "")),
        sender=sender,
        sender_name=sender_name,
        recipients=recipients,
        subject=_header(message, "Subject", "").strip(),
        full_text=full_text,
        visible_text=EmailReplyParser.parse_reply(shown).strip() or shown or full_text,
        attachments=(*_attachments(message, body), *uuencoded),
        automatic=automatic,
        bounced_ids=_bounced_ids(message) if automatic == "bounce" else (),
    )


def is_valid_address(address: str) -> bool:
    try:
        parsed = Address(addr_spec=address)
    except (ValueError, IndexError):
        return False
    return bool((parsed.username and parsed.domain and "." in parsed.domain) or parsed.domain == "localhost")
