"""What erasure tests look for: which files under a folder still hold some bytes."""

from __future__ import annotations

import contextlib
from pathlib import Path


def files_holding(folder: Path, *markers: bytes, skip: tuple[Path, ...] = ()) -> list[str]:
    """Every file under `folder` (but those under a `skip` folder) whose bytes hold one of `markers`, in any
    case; paths relative to `folder`, sorted. A file that vanishes while it is read (a journal, a partial
    write) holds nothing any more."""
    wanted = [m.lower() for m in markers]
    found = []
    for path in folder.rglob("*"):
        if any(s == path or s in path.parents for s in skip):
            continue
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            data = path.read_bytes().lower()
            if any(marker in data for marker in wanted):
                found.append(str(path.relative_to(folder)))
    return sorted(found)
