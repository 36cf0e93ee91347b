"""Key pairs: made here, private half written 0600 in the state folder, public half imported."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from vpclab.errors import VpclabError
from vpclab.keygen import new_ed25519
from vpclab.paths import write_private


def private_key_path(keys_dir: Path, key_name: str) -> Path:
    return keys_dir / f"{key_name}.pem"


def generate(keys_dir: Path, key_name: str) -> str:
    """Write a new ed25519 key pair (OpenSSH format); return the public key line."""
    # The folder too is the owner's alone (0700), not only the key files (0600).
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(keys_dir, 0o700)
    pair = new_ed25519()
    write_private(private_key_path(keys_dir, key_name), pair.private_pem)
    (keys_dir / f"{key_name}.pub").write_text(f"{pair.public} {key_name}\n")
    return f"{pair.public} {key_name}"


def validate_public_key(text: str, source: str) -> str:
    """Check key material before import: moto answers bad material with a raw 500."""
    try:
        serialization.load_ssh_public_key(text.strip().encode())
    except (ValueError, TypeError) as exc:
        raise VpclabError(
            f"{source} is not an OpenSSH public key ({exc})",
            "give a line like 'ssh-ed25519 AAAA... comment'",
        ) from None
    return text.strip()
