"""API keys and callers, pure: the key's text, its digest, what a key may claim."""

from __future__ import annotations

import pytest
from inbox_runtime.callers import (
    Agent,
    Refused,
    acting_agent,
    agent_metadata,
    caller_of,
    issue_key,
    parse_key,
    presented_key,
    secret_digest,
    subject_agent,
    validate_scopes,
)
from inbox_runtime.errors import InvalidInput, PermissionDenied


def test_an_issued_key_is_stored_as_a_digest_and_parses_back() -> None:
    issued = issue_key("crm-sync", ["conversations:read"], created_by="cli", now_us=1)
    key_id, secret = parse_key(issued.text) or ("", "")
    assert key_id == issued.record.key_id and issued.record.matches(secret)
    assert secret not in repr(issued.record) and issued.record.secret_sha256 == secret_digest(secret)
    assert not issued.record.matches(secret[:-1] + ("x" if secret[-1] != "x" else "y"))


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Basic abc",
        "Bearer ibx_nothex_" + "s" * 40,
        "Bearer ibx_k0123456789abcdef_short",
        "Bearer ²",
    ],
)
def test_what_is_not_a_key_is_unauthenticated(authorization: str | None) -> None:
    with pytest.raises(Refused) as refused:
        presented_key(authorization)
    assert refused.value.unauthenticated


def test_scopes_and_names_are_checked_by_name() -> None:
    with pytest.raises(InvalidInput, match="unknown scope"):
        validate_scopes(["conversations:read", "everything"])
    with pytest.raises(InvalidInput, match="at least one scope"):
        validate_scopes([" "])
    with pytest.raises(InvalidInput, match="name"):
        issue_key("bad name!", ["conversations:read"], created_by="cli", now_us=1)


def test_only_a_key_with_act_as_may_call_for_an_agent() -> None:
    plain = issue_key("crm", ["conversations:read"], created_by="cli", now_us=1)
    web = issue_key("inbox-web", ["conversations:read", "agents:act-as"], created_by="cli", now_us=1)
    metadata = agent_metadata(Agent("ada", ("billing", "Équipe, Paris"), supervisor=False))
    with pytest.raises(Refused) as refused:
        caller_of(plain.record, parse_key(plain.text)[1], metadata)  # type: ignore[index]
    assert not refused.value.unauthenticated and "agents:act-as" in str(refused.value)
    caller = caller_of(web.record, parse_key(web.text)[1], metadata)  # type: ignore[index]
    assert caller.agent == Agent("ada", ("billing", "Équipe, Paris"))
    assert caller.actor == "ada" and caller_of(plain.record, parse_key(plain.text)[1], ()).actor == "key:crm"  # type: ignore[index]


def test_a_revoked_or_unknown_key_is_unauthenticated() -> None:
    from dataclasses import replace

    issued = issue_key("crm", ["conversations:read"], created_by="cli", now_us=1)
    secret = parse_key(issued.text)[1]  # type: ignore[index]
    for record in (None, replace(issued.record, revoked_at_us=2)):
        with pytest.raises(Refused) as refused:
            caller_of(record, secret, ())
        assert refused.value.unauthenticated


def test_the_actor_is_the_calling_agent_never_a_request_field() -> None:
    web = issue_key("inbox-web", ["agents:act-as"], created_by="cli", now_us=1)
    secret = parse_key(web.text)[1]  # type: ignore[index]
    ada = caller_of(web.record, secret, agent_metadata(Agent("ada")))
    lead = caller_of(web.record, secret, agent_metadata(Agent("lead", supervisor=True)))
    nobody = caller_of(web.record, secret, ())
    assert acting_agent(ada, "") == "ada" and acting_agent(ada, "ada") == "ada"
    with pytest.raises(PermissionDenied):
        acting_agent(ada, "bob")
    with pytest.raises(PermissionDenied):
        acting_agent(nobody, "bob")  # an integrator cannot claim to be an agent
    with pytest.raises(PermissionDenied):
        acting_agent(nobody, "", must_be_agent=True)
    assert acting_agent(nobody, "") == "key:inbox-web"
    # Presence and offers: an agent's own, a supervisor's choice, an integrator's named agent.
    assert (
        subject_agent(ada, "") == "ada"
        and subject_agent(lead, "bob") == "bob"
        and subject_agent(nobody, "bob") == "bob"
    )
    with pytest.raises(PermissionDenied):
        subject_agent(ada, "bob")
