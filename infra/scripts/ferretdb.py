"""Build FerretDB, the MongoDB wire-protocol server the tests use as a real peer, into .tools/.

No MongoDB server installs from the registries these machines reach, so the MongoDB store is tested
against FerretDB 1.24.2 (SQLite backend), built from the Go module proxy with the machine's Go
toolchain. Pinned to one version; cached, so a second run costs nothing.

The module from the proxy lacks the generated `build/version/version.txt` that `cmd/ferretdb` refuses to
start without, so the source is copied from the module cache and that one file written before building.

`python infra/scripts/ferretdb.py` prints the binary's path, or a one-line reason on stderr and exit 3 when
there is no Go >= 1.24 (the MongoDB suite is then skipped unless MONGODB_URI names a server).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

VERSION = "v1.24.2"
MODULE = "github.com/FerretDB/FerretDB"
REPO = Path(__file__).resolve().parents[2]
BINARY = REPO / ".tools" / f"ferretdb-{VERSION}" / "ferretdb"
MIN_GO = (1, 24)


def go_binary() -> str | None:
    found = shutil.which("go") or ("/usr/local/go/bin/go" if os.path.exists("/usr/local/go/bin/go") else None)
    if found is None:
        return None
    output = subprocess.run([found, "version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"go(\d+)\.(\d+)", output)
    if match is None or (int(match[1]), int(match[2])) < MIN_GO:
        return None
    return found


def build() -> Path:
    if BINARY.exists():
        return BINARY
    go = go_binary()
    if go is None:
        print("FerretDB not built: no Go >= 1.24 on this machine", file=sys.stderr)
        raise SystemExit(3)
    print(f"+ building FerretDB {VERSION} from the Go module proxy into {BINARY.parent}", file=sys.stderr, flush=True)
    downloaded = subprocess.run(
        [go, "mod", "download", "-json", f"{MODULE}@{VERSION}"], capture_output=True, text=True, check=True
    )
    source = Path(json.loads(downloaded.stdout)["Dir"])
    with tempfile.TemporaryDirectory(prefix="ferretdb-src-") as scratch:
        tree = Path(scratch) / "ferretdb"
        shutil.copytree(source, tree)
        for path in tree.rglob("*"):
            path.chmod(path.stat().st_mode | 0o200)
        (tree / "build" / "version" / "version.txt").write_text(VERSION + "\n")
        BINARY.parent.mkdir(parents=True, exist_ok=True)
        partial = BINARY.with_suffix(".partial")
        subprocess.run([go, "build", "-o", str(partial), "./cmd/ferretdb"], cwd=tree, check=True)
        partial.rename(BINARY)
    return BINARY


if __name__ == "__main__":
    print(build())
