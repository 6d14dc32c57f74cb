"""The generated code in libs/contracts/src must match proto/: run `make proto` after editing a .proto."""

from __future__ import annotations

import importlib.util
from pathlib import Path

CONTRACTS = Path(__file__).resolve().parents[1]


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("generate", CONTRACTS / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_generated_code_matches_the_protos(tmp_path: Path) -> None:
    _generator().generate(tmp_path)
    fresh = _tree(tmp_path / "inbox")
    current = {k: v for k, v in _tree(CONTRACTS / "src" / "inbox").items() if "__pycache__" not in k}
    stale = sorted(k for k in fresh.keys() | current.keys() if fresh.get(k) != current.get(k))
    assert not stale, f"generated code is stale, run `make proto`: {stale}"
