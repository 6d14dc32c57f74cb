import pytest
from inbox_channel_twilio.hours import parse_hours
from inbox_channel_twilio.signature import compute_signature, is_valid_signature
from inbox_channel_twilio.texts import Keyword, keyword_of, segments, to_e164
from inbox_runtime.errors import InvalidInput
from twilio.request_validator import RequestValidator

TOKEN = "12345678901234567890"


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("https://inbox.example.com/webhooks/sms", {"From": "+14155550199", "Body": "Hi ✓", "MessageSid": "SM1"}),
        ("https://inbox.example.com/webhooks/sms?x=1", {"B": "2", "A": "1", "Empty": ""}),
        ("https://inbox.example.com:443/webhooks/voice", {}),
    ],
)
def test_signatures_match_the_official_validator(url: str, params: dict[str, str]) -> None:
    official = RequestValidator(TOKEN)
    theirs = official.compute_signature(url, params)
    assert compute_signature(TOKEN, url, params.items()) == theirs
    assert is_valid_signature(TOKEN, url, params.items(), theirs)
    assert not is_valid_signature(TOKEN, url, [*params.items(), ("Extra", "1")], theirs)
    assert not is_valid_signature("another-token-000000", url, params.items(), theirs)


def test_a_url_signed_with_or_without_the_default_port_is_accepted() -> None:
    signed_with_port = RequestValidator(TOKEN).compute_signature("https://inbox.example.com:443/webhooks/sms", {})
    assert is_valid_signature(TOKEN, "https://inbox.example.com/webhooks/sms", [], signed_with_port)


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("STOP", Keyword.OPT_OUT),
        (" stop ", Keyword.OPT_OUT),
        ("Unsubscribe", Keyword.OPT_OUT),
        ("quit.", Keyword.OPT_OUT),
        ("START", Keyword.OPT_IN),
        ("unstop", Keyword.OPT_IN),
        ("HELP", Keyword.HELP),
        ("please stop calling", None),
        ("", None),
    ],
)
def test_keywords_match_the_whole_message(text: str, keyword: Keyword | None) -> None:
    assert keyword_of(text) is keyword


def test_segments_follow_gsm7_and_ucs2_rules() -> None:
    assert segments("a" * 160) == ("GSM-7", 1)
    assert segments("a" * 161) == ("GSM-7", 2)
    assert segments("€" * 80) == ("GSM-7", 1)  # extension characters cost two septets
    assert segments("€" * 81) == ("GSM-7", 2)
    assert segments("é" * 70) == ("GSM-7", 1)
    assert segments("ł" * 70) == ("UCS-2", 1)
    assert segments("ł" * 71) == ("UCS-2", 2)
    assert segments("😀" * 35) == ("UCS-2", 1)  # surrogate pairs count twice


def test_numbers_are_normalised_to_e164() -> None:
    assert to_e164("(415) 555-0199") == "+14155550199"
    assert to_e164("+44 20 7946 0958") == "+442079460958"
    with pytest.raises(InvalidInput):
        to_e164("not a number")


def test_business_hours() -> None:
    from datetime import UTC, datetime

    hours = parse_hours("Mon-Fri 09:00-17:00; Sat 10:00-12:00", "Europe/London")
    assert hours.is_open(datetime(2026, 11, 23, 9, 30, tzinfo=UTC))  # Monday, GMT
    assert not hours.is_open(datetime(2026, 11, 23, 17, 0, tzinfo=UTC))
    assert hours.is_open(datetime(2026, 11, 28, 11, 0, tzinfo=UTC))  # Saturday
    assert not hours.is_open(datetime(2026, 11, 29, 11, 0, tzinfo=UTC))  # Sunday
    assert parse_hours("", "UTC").is_open(datetime(2026, 11, 29, 3, 0, tzinfo=UTC))
    for bad in ("Mon-Fri 9-5", "Xyz 09:00-10:00", "Mon 10:00-09:00"):
        with pytest.raises(InvalidInput):
            parse_hours(bad, "UTC")
    with pytest.raises(InvalidInput):
        parse_hours("", "Mars/Olympus")
