"""The satisfaction survey by email: one-click links to a signed page where the customer confirms a score.

Each link carries a token signed with `CHANNELS_SURVEY_SECRET` (itsdangerous): the survey's message id,
the address it was sent to and the inbox, so the page needs no login and nobody can answer another
customer's survey. The link opens the page with the score chosen; the answer is recorded when the customer
sends the page's form (a GET records nothing: mail scanners open every link of a mail).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

SURVEY_PATH = "/survey/"
SCALE = 5
MAX_COMMENT = 2000
_SALT = "satisfaction-survey"


@dataclass(frozen=True)
class SurveyTicket:
    survey_id: str
    recipient: str
    inbox_id: str


def sign(secret: str, ticket: SurveyTicket) -> str:
    return URLSafeSerializer(secret, salt=_SALT).dumps([ticket.survey_id, ticket.recipient, ticket.inbox_id])


def verify(secret: str, token: str) -> SurveyTicket | None:
    """The ticket a token was signed for; None when it was not signed with our secret."""
    try:
        survey_id, recipient, inbox_id = URLSafeSerializer(secret, salt=_SALT).loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    if not all(isinstance(v, str) and v for v in (survey_id, recipient, inbox_id)):
        return None
    return SurveyTicket(survey_id, recipient, inbox_id)


def links_block(public_base_url: str, token: str) -> str:
    """What a survey mail adds under the question: one link per score."""
    labels = {1: "poor", SCALE: "great"}
    lines = ["", "Or rate us with one click:"]
    for score in range(1, SCALE + 1):
        label = f" ({labels[score]})" if score in labels else ""
        lines.append(f"{score}{label}: {public_base_url}{SURVEY_PATH}{token}?score={score}")
    return "\n".join(lines)


def chosen_score(raw: str | None) -> int:
    """The score a link or the form names; 0 when it names none."""
    return int(raw) if raw in {str(s) for s in range(1, SCALE + 1)} else 0


PAGE_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1d2430}"
    "fieldset{border:0;padding:0;display:flex;gap:.5rem}label.score{flex:1;text-align:center;border:1px solid #1d2430;"
    "border-radius:6px;padding:.4rem 0;cursor:pointer}input[type=radio]{margin-right:.3rem}"
    "textarea{width:100%;box-sizing:border-box}button{margin-top:1rem;padding:.5rem 1.2rem}"
)


def page(body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>How did we do?</title><style>{PAGE_STYLE}</style></head><body>{body}</body></html>"
    )


def form_page(token: str, score: int, error: str = "") -> str:
    choices = "".join(
        f'<label class="score"><input type="radio" name="score" value="{s}"{" checked" if s == score else ""}'
        f" required>{s}</label>"
        for s in range(1, SCALE + 1)
    )
    problem = f'<p role="alert">{html.escape(error)}</p>' if error else ""
    return page(
        "<h1>How did we do?</h1>"
        f"{problem}"
        f'<form method="post" action="{SURVEY_PATH}{html.escape(token)}">'
        f"<fieldset><legend>1 (poor) to {SCALE} (great)</legend>{choices}</fieldset>"
        '<p><label for="comment">Anything you would like to tell us? (optional)</label>'
        f'<textarea id="comment" name="comment" rows="4" maxlength="{MAX_COMMENT}"></textarea></p>'
        '<button type="submit">Send</button></form>'
    )


THANKS_PAGE = page("<h1>Thank you!</h1><p>Your feedback reached the team.</p>")
UNKNOWN_PAGE = page("<h1>This link does not work</h1><p>It may have been cut short by your mail program.</p>")
