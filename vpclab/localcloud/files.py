"""Small file helpers of the local cloud: one atomic write, one JSON read."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def atomic_write(
    path: Path, data: str | bytes, mode: int | None = None, uid: int = -1, gid: int = -1
) -> None:
    """Write through a temporary file and a rename: a reader sees the old or the new file,
    never half of one. `mode`, `uid` and `gid` are set before the rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # Born 0600: a secret is never readable by others, not even for a moment.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data.encode() if isinstance(data, str) else data)
        if uid != -1 or gid != -1:
            os.fchown(fd, uid, gid)
        os.fchmod(fd, 0o644 if mode is None else mode)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(data, indent=1, sort_keys=True))


def read_json(path: Path) -> Any | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
