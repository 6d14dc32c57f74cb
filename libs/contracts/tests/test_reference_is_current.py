"""docs/api/ must match proto/ and its comments: run `make proto` after editing a .proto."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

CONTRACTS = Path(__file__).resolve().parents[1]
DOCS = CONTRACTS.parents[1] / "docs" / "api"


def _reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reference", CONTRACTS / "reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["reference"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_api_reference_matches_the_protos(tmp_path: Path) -> None:
    _reference().write(tmp_path)
    fresh = {p.name: p.read_text() for p in tmp_path.glob("*.md")}
    current = {p.name: p.read_text() for p in DOCS.glob("*.md") if p.name != "errors.md"}  # that one by hand
    stale = sorted(name for name in fresh.keys() | current.keys() if fresh.get(name) != current.get(name))
    assert not stale, f"the API reference is stale, run `make proto`: {stale}"


def test_every_service_page_names_each_methods_scope_and_says_what_it_does() -> None:
    for page in DOCS.glob("*Service.md"):
        lines = page.read_text().splitlines()
        start = lines.index("| Method | Request | Response | Scope | Description |") + 2
        rows = lines[start : lines.index("", start)]
        assert rows, page.name
        for row in rows:
            cells = [c.strip() for c in row.strip("|").split(" | ")]
            assert cells[3].startswith("`") and len(cells[3]) > 2, f"{page.name}: no scope in {row}"
            assert cells[4], f"{page.name}: {cells[0]} has no comment in its .proto"
