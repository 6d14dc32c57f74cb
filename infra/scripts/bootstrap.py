"""Install what is missing: a virtualenv in .venv, the pinned tools, generated contracts, every package.

Run by `make setup` (and so by `make run` and `make test`) with the system's python3; idempotent and
quick when nothing changed. Needs only Python 3.11+, pip and, if the venv module is missing, apt.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv"
PYTHON = VENV / "bin" / "python"

# Order matters only for readability; pip resolves the graph.
PACKAGES = [
    "libs/contracts",
    "libs/runtime",
    "libs/events",
    "libs/channel-sdk",
    "libs/language",
    "libs/devstack",
    "services/threading",
    "services/routing",
    "services/translation",
    "services/channels",
    # Every channel adapter package (each found by the channels service through its entry point): a new
    # one is a new folder here, nothing else.
    *sorted(str(p.parent.relative_to(REPO)) for p in REPO.glob("services/channels/adapters/*/pyproject.toml")),
    "services/inbox-web",
]

# Tools for building, codegen, tests and lint, beside what the packages declare.
DEV_TOOLS = [
    "hatchling",
    "editables",
    "grpcio-tools",
    "mypy-protobuf",
    "pytest",
    "pytest-asyncio",
    "pytest-timeout",
    # Property-based fuzzing of what customers and providers send (webhooks, chat frames, mail).
    "hypothesis",
    "httpx",
    "ruff",
    "mypy",
    "types-protobuf",
    "grpc-stubs",
    # Only to sign test webhooks exactly as Twilio does.
    "twilio",
    # Drives Debian's Chromium in the browser tests (no browser download).
    "playwright",
    # Checks infra/k8s/ against Kubernetes' JSON schemas, which it ships (no cluster, no download).
    "kubernetes-validate",
]


def run(*args: str) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(args, check=True, cwd=REPO)


def ensure_venv() -> None:
    if PYTHON.exists():
        return
    if sys.version_info < (3, 11):  # noqa: UP036 - this runs on the system python, before the venv
        raise SystemExit(f"Python 3.11 or newer is needed, this is {sys.version.split()[0]}")
    try:
        venv.EnvBuilder(with_pip=True).create(VENV)
    except (subprocess.CalledProcessError, OSError):
        # Debian ships ensurepip separately.
        shutil.rmtree(VENV, ignore_errors=True)
        if shutil.which("apt-get") is None:
            raise
        minor = f"{sys.version_info.major}.{sys.version_info.minor}"
        run("apt-get", "install", "-y", "-q", f"python{minor}-venv")
        venv.EnvBuilder(with_pip=True).create(VENV)


def main() -> None:
    ensure_venv()
    pip = [str(PYTHON), "-m", "pip", "install", "-qq", "-c", "constraints.txt"]
    run(*pip, *DEV_TOOLS)
    run(str(PYTHON), "libs/contracts/generate.py")
    editable = [arg for package in PACKAGES for arg in ("-e", package)]
    run(*pip, "--no-build-isolation", *editable)
    os.utime(VENV, None)


if __name__ == "__main__":
    main()
