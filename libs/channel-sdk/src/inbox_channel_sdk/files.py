"""Files an adapter keeps for agents (attachments, uploads, original mails), content-addressed."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class FileStore:
    """Files named by the SHA-256 of their content: the same bytes are kept once, and a name from a
    request can only ever point inside the folder."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._folder = folder

    def save(self, data: bytes) -> str:
        """Keep `data` (written atomically); returns its digest."""
        digest = hashlib.sha256(data).hexdigest()
        path = self._folder / digest
        if not path.exists():
            partial = path.with_suffix(".part")
            partial.write_bytes(data)
            partial.replace(path)
        return digest

    def path(self, digest: str) -> Path | None:
        """The file for `digest`, or None when it is not one we keep (or not a digest at all)."""
        if not _DIGEST.match(digest):
            return None
        path = self._folder / digest
        return path if path.exists() else None

    def delete(self, digest: str) -> None:
        path = self.path(digest)
        if path is not None:
            path.unlink(missing_ok=True)
