from pathlib import Path

import pytest
from inbox_routing.config import read_rules_file
from inbox_routing.domain import CHAT, RouteRequest, choose_rule, parse_rules
from inbox_runtime.config import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "infra" / "routing" / "rules.example.toml"


def test_the_example_rules_file_is_valid_and_routes_as_documented() -> None:
    rules = parse_rules(read_rules_file(EXAMPLE))
    spanish_refund = RouteRequest("c", "cust", CHAT, "chat", language="es", text="Quiero una devolución")
    rule_id, target = choose_rule(rules, spanish_refund)
    assert (rule_id, target.team, target.required_skills) == ("refunds-es", "billing", (("refunds", 2),))
    assert choose_rule(rules, RouteRequest("c", "cust", CHAT, "chat"))[1].team == "general"


def test_a_broken_rules_file_fails_start_up(tmp_path: Path) -> None:
    broken = tmp_path / "rules.toml"
    broken.write_text("[default\nteam = 1")
    with pytest.raises(ConfigError, match="ROUTING_RULES_FILE"):
        read_rules_file(broken)
