import json
from pathlib import Path

import pytest
from inbox_channel_email.compose import ReplyContext, build_reply, message_id_from_ours, reply_subject
from inbox_channel_email.parse import UNKNOWN_SENDER_DOMAIN, choose_sender, html_to_text, parse_email

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DOMAIN = "inbox.example.com"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_quoted_history_and_signature_are_hidden_but_kept() -> None:
    mail = parse_email(fixture("plain_reply.eml"), DOMAIN)
    assert mail.visible_text == "It still has not arrived, could you check again?\n\nThanks,\nGrace"
    assert "Your order ships tomorrow." in mail.full_text
    assert (mail.sender, mail.sender_name) == ("grace@example.org", "Grace Hopper")
    assert mail.message_id == "CAF-grace-2@mail.example.org"
    assert mail.in_reply_to == "reply-1@inbox.example.com"
    assert mail.references == ("CAF-grace-1@mail.example.org", "reply-1@inbox.example.com")
    assert mail.automatic == ""


def test_html_becomes_plain_text_without_markup_or_scripts() -> None:
    mail = parse_email(fixture("html_only.eml"), DOMAIN)
    assert mail.subject == "Problème de facture"
    assert mail.visible_text == "Bonjour,\nma facture est fausse & incomplète.\nMerci\nAda"
    assert "alert" not in mail.full_text and "<" not in mail.full_text


def test_attachments_are_extracted_and_text_preferred_over_html() -> None:
    mail = parse_email(fixture("with_attachment.eml"), DOMAIN)
    assert mail.visible_text == "Please see the attached invoice."
    [attachment] = mail.attachments
    assert (attachment.filename, attachment.content_type) == ("invoice.pdf", "application/pdf")
    assert attachment.data == b"%PDF-1.4 fake pdf bytes"


@pytest.mark.parametrize(
    ("name", "why"), [("auto_reply.eml", "auto-reply"), ("bounce.eml", "bounce"), ("loop.eml", "loop")]
)
def test_automatic_mail_is_recognised(name: str, why: str) -> None:
    assert parse_email(fixture(name), DOMAIN).automatic == why


def test_a_bounce_names_the_mail_it_returns() -> None:
    bounce = parse_email(fixture("bounce.eml"), DOMAIN)
    assert bounce.bounced_ids == ("REPLY_MESSAGE_ID@inbox.example.com",)
    assert message_id_from_ours(bounce.bounced_ids[0], DOMAIN) == "REPLY_MESSAGE_ID"
    assert message_id_from_ours("x@elsewhere.org", DOMAIN) is None


def test_a_mail_without_message_id_gets_a_stable_one() -> None:
    raw = b"From: a@example.org\r\nTo: support@inbox.example.com\r\nSubject: hi\r\n\r\nhello\r\n"
    assert parse_email(raw, DOMAIN).message_id == parse_email(raw, DOMAIN).message_id


def test_html_to_text_keeps_paragraphs() -> None:
    assert html_to_text("<p>One</p><p>Two<br>Three</p>") == "One\nTwo\nThree"


def test_a_reply_threads_in_the_customer_mail_client() -> None:
    context = ReplyContext("CAF-grace-2@mail.example.org", ("CAF-grace-1@mail.example.org",), "Your order 4411")
    mail = build_reply(
        message_id="r-42",
        domain=DOMAIN,
        from_address="support@inbox.example.com",
        from_name="Acme Support",
        to_address="grace@example.org",
        text="It arrives today.\n\n<b>Sorry</b> for the wait.",
        context=context,
    )
    assert mail["Message-ID"] == "<r-42@inbox.example.com>"
    assert mail["In-Reply-To"] == "<CAF-grace-2@mail.example.org>"
    assert mail["References"] == "<CAF-grace-1@mail.example.org> <CAF-grace-2@mail.example.org>"
    assert mail["Reply-To"] == "support@inbox.example.com"
    assert mail["Subject"] == "Re: Your order 4411"
    assert mail.get_content_type() == "multipart/alternative"
    html_part = mail.get_body(preferencelist=("html",))
    assert html_part is not None and "&lt;b&gt;Sorry&lt;/b&gt;" in html_part.get_content()
    assert reply_subject("RE: x") == "RE: x" and reply_subject("") == "Your conversation with us"


def test_undecodable_header_and_body_bytes_come_out_as_valid_text() -> None:
    raw = (
        b"From: \xc2\x80<\r\nTo: support@inbox.example.com\r\nSubject: caf\xc3\xa9 \xff\r\n"
        b"Message-ID: <bytes@example.org>\r\nContent-Type: text/plain; charset=no-such-charset\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nna\xefve \xc3\xa9t\xc3\xa9\r\n"
    )
    parsed = parse_email(raw, "inbox.example.com")
    for text in (parsed.subject, parsed.sender, parsed.sender_name, parsed.full_text):
        text.encode("utf-8")  # no lone surrogates left: storable and sendable
    assert parsed.subject == "café \ufffd"
    assert parsed.full_text == "na\ufffdve été"


def mail(headers: str) -> bytes:
    return (headers + "To: support@inbox.example.com\r\nSubject: order\r\n\r\nWhere is it?\r\n").encode()


@pytest.mark.parametrize(
    ("headers", "envelope", "expected"),
    [
        ("From: Grace <Grace@Example.org>\r\n", "", ("Grace", "grace@example.org")),
        # Only the Reply-To is usable (a `<>` or garbled From, a form mailer).
        ("From: <>\r\nReply-To: Grace <grace@example.org>\r\n", "", ("Grace", "grace@example.org")),
        ("From: Grace\r\nReply-To: grace@example.org\r\n", "", ("Grace", "grace@example.org")),
        ("From: undisclosed\r\nSender: Grace <grace@example.org>\r\n", "", ("Grace", "grace@example.org")),
        # Nothing in the headers: the SMTP envelope's MAIL FROM.
        ("From: <>\r\n", "<grace@example.org>", ("", "grace@example.org")),
        ("", "grace@example.org", ("", "grace@example.org")),
    ],
)
def test_the_sender_is_the_first_usable_address(headers: str, envelope: str, expected: tuple[str, str]) -> None:
    parsed = parse_email(mail(headers), DOMAIN, envelope)
    assert (parsed.sender_name, parsed.sender) == expected


def test_a_mail_with_no_usable_sender_anywhere_still_has_one_of_its_own() -> None:
    raw = mail("From: <>\r\n")
    parsed = parse_email(raw, DOMAIN, "<>")
    assert parsed.sender.endswith("@" + UNKNOWN_SENDER_DOMAIN) and parsed.sender_name == "Unknown sender"
    assert parse_email(raw, DOMAIN, "").sender == parsed.sender  # a retry is the same sender
    assert parse_email(mail("From: ???\r\n"), DOMAIN).sender != parsed.sender  # another mail is another
    assert choose_sender([("", "not an address")], "", b"x")[1].endswith(UNKNOWN_SENDER_DOMAIN)


CORPUS = FIXTURES / "corpus"
EXPECTED: dict[str, dict[str, object]] = {
    name: case
    for name, case in json.loads((CORPUS / "expected.json").read_text(encoding="utf-8")).items()
    if not name.startswith("_")
}


def test_every_mail_of_the_corpus_has_its_expected_result() -> None:
    assert sorted(EXPECTED) == sorted(p.name for p in CORPUS.glob("*.eml"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_real_world_mail_comes_out_as_expected(name: str) -> None:
    case = EXPECTED[name]
    parsed = parse_email((CORPUS / name).read_bytes(), DOMAIN, str(case.get("envelope", "")))
    assert parsed.sender == case["sender"]
    assert parsed.automatic == case.get("automatic", "")
    assert "\ufffd" not in parsed.visible_text + parsed.subject
    if "subject" in case:
        assert parsed.subject == case["subject"]
    if "shows" in case:
        assert str(case["shows"]) in parsed.visible_text
        assert bool(parsed.visible_text) == bool(case["shows"])
    if "hides" in case:
        assert str(case["hides"]) not in parsed.visible_text
    expected_attachments = [tuple(a) for a in case.get("attachments", [])]  # type: ignore[attr-defined]
    assert [(a.filename, a.content_type) for a in parsed.attachments] == expected_attachments
    assert all(a.data for a in parsed.attachments)
