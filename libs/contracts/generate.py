"""Generate the Python code for every .proto under proto/ into libs/contracts/src.

One entry point for codegen (`make proto`); the staleness test calls `generate()` into a temporary
folder and compares. Generated files are never edited by hand.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from grpc_tools import protoc  # type: ignore[import-untyped]

REPO = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO / "proto"
DEFAULT_OUT = Path(__file__).resolve().parent / "src"


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.rglob("*.proto"))


def generate(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    # protoc finds the mypy-protobuf plugins on PATH; they live beside this interpreter.
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    well_known = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        *(str(p.relative_to(PROTO_ROOT)) for p in proto_files()),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    # Namespace-free packages so mypy and importlib see plain packages.
    for directory in [p for p in (out / "inbox").rglob("*") if p.is_dir()] + [out / "inbox"]:
        (directory / "__init__.py").touch()
    (out / "inbox" / "py.typed").touch()


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT)
