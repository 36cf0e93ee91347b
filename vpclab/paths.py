"""Where vpclab keeps its state: keys, the moto server's record, host folders.

The state folder is `.vpclab/` beside the spec file (git-ignored), or `VPCLAB_STATE`.
"""

from __future__ import annotations

import os
from pathlib import Path


def state_root(spec_path: Path | None = None) -> Path:
    override = os.environ.get("VPCLAB_STATE")
    if override:
        return Path(override).resolve()
    base = spec_path.resolve().parent if spec_path else Path.cwd()
    return base / ".vpclab"


def lab_dir(lab: str, spec_path: Path | None = None) -> Path:
    """Per-lab state: key pairs and pinned host keys."""
    return state_root(spec_path) / "labs" / lab


def keys_dir(lab: str, spec_path: Path | None = None) -> Path:
    return lab_dir(lab, spec_path) / "keys"


def local_dir(spec_path: Path | None = None) -> Path:
    """State of the local target: the moto server and the agent."""
    return state_root(spec_path) / "local"


def write_private(path: Path, data: str | bytes) -> None:
    """Write a secret file with mode 0600 from the start (never world-readable, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, raw)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)
