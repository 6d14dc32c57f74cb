"""Nothing accepted is lost while processes crash: `make test` runs the short version (a few hundred items),
`make chaos` the full one (CHAOS_SCALE=full: several thousand items from about a thousand customers)."""

from __future__ import annotations

import secrets

import pytest
from inbox_devstack.providers import TwilioApi
from inbox_devstack.suite import LocalSuite

from .chaos import run_chaos, scale_from_env
from .conftest import AUTH_TOKEN, OUR_NUMBER, PUBLIC_BASE


@pytest.fixture
def api_secret() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture
def suite_env(twilio_env: dict[str, str], api_secret: str) -> dict[str, str]:
    # The API channel on too; the run sends no replies over it.
    return {**twilio_env, "CHANNELS_API_SECRET": api_secret, "CHANNELS_API_CALLBACK_URL": "http://127.0.0.1:9/unused"}


SCALE_NAME, SCALE = scale_from_env()


@pytest.mark.timeout(3600 if SCALE_NAME == "full" else 600)
async def test_every_accepted_item_is_stored_once_in_order_while_each_process_is_killed(
    local_suite: LocalSuite, twilio_api: TwilioApi, api_secret: str
) -> None:
    report, problems = await run_chaos(local_suite, twilio_api, api_secret, AUTH_TOKEN, OUR_NUMBER, PUBLIC_BASE, SCALE)
    print(f"\nchaos ({SCALE_NAME}):")
    for line in report.lines:
        print(f"  {line}")
    assert not problems, "\n".join(problems[:50])
