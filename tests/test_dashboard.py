"""The Grafana dashboard shipped with docker-compose reads only metrics the services declare: a renamed
metric fails here, not as an empty panel in an operator's Grafana."""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DECLARED = re.compile(r'(?:counter|gauge|histogram)\(\s*"(inbox_[a-z_]+)"')
USED = re.compile(r"\b(inbox_[a-z_]+)")
HISTOGRAM_SERIES = ("_bucket", "_count", "_sum")


def declared_metrics() -> set[str]:
    names: set[str] = set()
    for source in [*REPO.glob("libs/*/src/**/*.py"), *REPO.glob("services/**/src/**/*.py")]:
        names.update(DECLARED.findall(source.read_text()))
    return names


def test_every_panel_reads_a_declared_metric() -> None:
    declared = declared_metrics()
    assert "inbox_events_handled_total" in declared and "inbox_routing_agents_available" in declared
    dashboard = json.loads((REPO / "infra/observability/grafana/dashboards/inbox.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used = {series_of(name) for name in USED.findall(target["expr"])}
            assert used <= declared, f"{panel['title']!r} reads {sorted(used - declared)}, which nothing declares"


def series_of(name: str) -> str:
    """The metric a series belongs to: a histogram's `_bucket`, `_count` and `_sum` are its own."""
    return next((name.removesuffix(s) for s in HISTOGRAM_SERIES if name.endswith(s)), name)
