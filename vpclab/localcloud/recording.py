"""The local control plane's recording, sealed: no secret in it is plaintext on disk.

Each change the moto server records (see `moto_main`) is one line of
`moto-recording.jsonl`: the request, headers and body included, sealed whole with Fernet
under a key of the state folder (`recording.key`, 0600, made on first use): the body of a
PutParameter holds a SecureString's value, RunInstances' holds user data, and any API a
student calls may carry a secret in a field of its own, so no list of fields is kept. Only
the action's name stays readable, to see what a recording holds.

A recording of older code (moto's plaintext lines) still replays: `prepare` seals it
before the server starts, so a lab built before the upgrade survives it and its secrets
leave the disk at once. A line that does not open (the key is missing or another) stops the
start with one line naming the file and `vpclab local reset --force`.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from vpclab.errors import VpclabError

# Where the server finds the key: a path, so the key itself is never in an environment.
KEY_ENV = "VPCLAB_RECORDING_KEY"
RESET = "run 'vpclab local reset --force' to start an empty local cloud (then 'vpclab up')"


def key_path(local_dir: Path) -> Path:
    return local_dir / "recording.key"


def action_of(headers: dict, method: str, body: bytes, url: str) -> str:
    """The API action of a request: JSON protocols name it in X-Amz-Target, query protocols
    in the Action parameter; for REST protocols the method tells reads apart."""
    target = headers.get("X-Amz-Target", "")
    if target:
        return target.rsplit(".", 1)[-1]
    query = urllib.parse.urlsplit(url).query
    params = urllib.parse.parse_qs(query + "&" + body.decode("utf-8", "replace"))
    if "Action" in params:
        return params["Action"][0]
    return "Get" if method in ("GET", "HEAD") else method


@dataclass(frozen=True)
class Entry:
    """One recorded request, as moto's recorder keeps it (and replays it)."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    action: str = ""

    def as_moto(self) -> dict[str, Any]:
        return {
            "headers": self.headers,
            "method": self.method,
            "url": self.url,
            "body": base64.b64encode(self.body).decode("ascii"),
            "body_encoded": True,
        }

    @classmethod
    def from_moto(cls, data: dict[str, Any], action: str = "") -> Entry:
        body = data.get("body") or ""
        raw = base64.b64decode(body) if data.get("body_encoded") else str(body).encode()
        return cls(
            method=str(data["method"]),
            url=str(data["url"]),
            headers=dict(data.get("headers") or {}),
            body=raw,
            action=action or action_of(data.get("headers") or {}, data["method"], raw, data["url"]),
        )


@dataclass
class Sealer:
    """Seals entries into lines and opens them again, with one key."""

    fernet: Fernet
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def seal(self, entry: Entry) -> str:
        token = self.fernet.encrypt(json.dumps(entry.as_moto()).encode())
        return json.dumps({"action": entry.action, "sealed": token.decode("ascii")})

    def open(self, sealed: dict[str, Any]) -> Entry:
        """The entry of a sealed line; InvalidToken when another key sealed it."""
        plain = self.fernet.decrypt(str(sealed["sealed"]).encode("ascii"))
        return Entry.from_moto(json.loads(plain), str(sealed.get("action", "")))

    def append(self, recording: Path, entry: Entry) -> None:
        """One line, one write, in the 0600 file (`O_APPEND`: the server is threaded)."""
        line = (self.seal(entry) + "\n").encode()
        with self._lock:
            fd = os.open(recording, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)


def load(key: Path) -> Sealer:
    """The sealer of a key file (it must exist: `prepare` makes it)."""
    try:
        return Sealer(Fernet(key.read_bytes().strip()))
    except OSError as exc:
        problem = f"cannot read the recording's key {key} ({exc.strerror})"
        raise VpclabError(problem, RESET) from None
    except ValueError:
        raise VpclabError(f"the recording's key {key} is not a Fernet key", RESET) from None


def _make_key(key: Path) -> None:
    """A new key, 0600 from its first byte; a key another process just made is kept."""
    try:
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    try:
        os.write(fd, Fernet.generate_key())
    finally:
        os.close(fd)


def _lines(recording: Path) -> list[tuple[int, dict[str, Any]]]:
    """The recording's lines, numbered: sealed ones, or moto's own (older code)."""
    try:
        text = recording.read_text()
    except FileNotFoundError:
        return []
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, dict) or not ("sealed" in row or "method" in row):
            raise _not_a_request(recording, number)
        rows.append((number, row))
    return rows


def _not_a_request(recording: Path, number: int) -> VpclabError:
    return VpclabError(f"line {number} of {recording} is not a recorded request", RESET)


def _opened(recording: Path, key: Path) -> list[tuple[dict[str, Any], Entry]]:
    """Each line with its request, opened; a one-line VpclabError when one does not open."""
    rows = _lines(recording)
    sealer = None
    if any("sealed" in row for _, row in rows):
        if not key.exists():
            raise VpclabError(f"{recording} is sealed, but its key {key} is missing", RESET)
        sealer = load(key)
    found = []
    for number, row in rows:
        try:
            entry = sealer.open(row) if sealer and "sealed" in row else Entry.from_moto(row)
        except InvalidToken:
            raise VpclabError(f"{recording} does not open with the key {key}", RESET) from None
        except (KeyError, TypeError, ValueError):
            raise _not_a_request(recording, number) from None
        found.append((row, entry))
    return found


def entries(recording: Path, key: Path) -> list[Entry]:
    """Every recorded request, opened (in memory only)."""
    return [entry for _, entry in _opened(recording, key)]


def prepare(recording: Path, key: Path) -> None:
    """Before the server starts: the key exists (0600), every line opens with it, and a
    plaintext line of older code is sealed (the file is replaced whole, 0600)."""
    found = _opened(recording, key)
    _make_key(key)
    key.chmod(0o600)
    if all("sealed" in row for row, _ in found):
        return
    sealer = load(key)
    lines = [json.dumps(row) if "sealed" in row else sealer.seal(entry) for row, entry in found]
    fresh = recording.with_suffix(".sealing")
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("".join(line + "\n" for line in lines))
    os.replace(fresh, recording)


def forget(local_dir: Path) -> None:
    """Drop the key: a fresh cloud gets a fresh key."""
    key_path(local_dir).unlink(missing_ok=True)
