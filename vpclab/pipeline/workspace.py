"""Where a build's `sh` steps run: a Jenkins-style workspace. `LocalWorkspace` is a folder on
this machine (the runner's own tests); the Jenkins host's workspace (vpclab.pipeline.host)
runs the same steps over SSH as the user `jenkins`."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol


class Workspace(Protocol):
    def sh(self, script: str, env: Mapping[str, str], on_line: Callable[[str], None]) -> int:
        """Run a script like Jenkins' sh step (`sh -xe`); stream its lines; its exit code."""
        ...

    def collect(self, patterns: str) -> dict[str, bytes]:
        """The workspace files matching Ant-style patterns (comma-separated), by path."""
        ...


def ant_regex(pattern: str) -> re.Pattern:
    """An Ant-style pattern (`reports/**/*.xml`, `a/*.json`) as a regex over relative paths."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def split_patterns(patterns: str) -> list[str]:
    return [p.strip().lstrip("./") for p in patterns.split(",") if p.strip()]


def literal_prefix(pattern: str) -> str:
    """The folder part of a pattern before any wildcard (where to start looking)."""
    head = re.split(r"[*?]", pattern, maxsplit=1)[0]
    return head.rsplit("/", 1)[0] if "/" in head else ""


def match(paths: list[str], patterns: str) -> list[str]:
    regexes = [ant_regex(p) for p in split_patterns(patterns)]
    return sorted(p for p in paths if any(r.match(p) for r in regexes))


class LocalWorkspace:
    """A workspace folder on this machine, steps run as the current user."""

    def __init__(self, root: Path, base_env: Mapping[str, str] | None = None) -> None:
        self.root = root
        self.base_env = dict(base_env if base_env is not None else os.environ)

    def sh(self, script: str, env: Mapping[str, str], on_line: Callable[[str], None]) -> int:
        proc = subprocess.Popen(
            ["/bin/sh", "-xe", "-c", script],
            cwd=self.root,
            env={**self.base_env, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            on_line(line.rstrip("\n"))
        return proc.wait()

    def collect(self, patterns: str) -> dict[str, bytes]:
        found: list[str] = []
        for pattern in split_patterns(patterns):
            start = self.root / literal_prefix(pattern)
            if start.is_dir():
                found += [str(p.relative_to(self.root)) for p in start.rglob("*") if p.is_file()]
        return {path: (self.root / path).read_bytes() for path in match(found, patterns)}
