"""The Jenkins host's workspace: a build's `sh` steps run there as the user `jenkins`, over the
pinned SSH path to the Jenkins host (as ubuntu, then `sudo -u jenkins`), in a checkout of the
lab's git remote. Output streams back line by line; published files come back as a tar."""

from __future__ import annotations

import base64
import io
import shlex
import tarfile
import time
from collections.abc import Callable, Mapping

from vpclab.errors import VpclabError
from vpclab.hosts.ssh import Host
from vpclab.pipeline.workspace import literal_prefix, match, split_patterns

JOB = "workload_4"  # the multibranch job Configuration as Code creates on AWS
PATH = "/usr/local/bin:/usr/bin:/bin"
# Kept between builds, as a Jenkins workspace keeps untracked files: the CI venv Build
# reuses, and the bytecode the stages' imports wrote (Python checks it against its source;
# compiling the app and its tests again cost each build's Test stage about 2 CPU-s).
KEEP = (".venv-ci", "__pycache__")


class HostWorkspace:
    """A workspace folder in `jenkins`'s home on the Jenkins host."""

    def __init__(self, host: Host, user: str, home: str, base_env: Mapping[str, str]) -> None:
        self.host, self.user, self.home = host, user, home
        self.root = f"{home}/workspace/{JOB}"
        self.base_env = {"HOME": home, "USER": user, "PATH": PATH, **base_env}

    def _as_user(self, script: str) -> str:
        return f"sudo -n -u {self.user} -H -- /bin/sh -c {shlex.quote(script)}"

    def run(self, script: str, timeout: float = 120.0) -> str:
        """Run a short command as the user (not a build step); its stdout."""
        return self.host.run(self._as_user(script), timeout=timeout).stdout

    # --- the checkout -----------------------------------------------------------------------

    def remote_commit(self, git_url: str, branch: str) -> str | None:
        out = self.run(f"git ls-remote {shlex.quote(git_url)} refs/heads/{shlex.quote(branch)}")
        return out.split()[0] if out.strip() else None

    def remote_head_branch(self, git_url: str) -> str:
        out = self.run(f"git ls-remote --symref {shlex.quote(git_url)} HEAD")
        for line in out.splitlines():
            if line.startswith("ref: refs/heads/"):
                return line.split()[1].removeprefix("refs/heads/")
        raise VpclabError(f"{git_url} has no default branch", "pass --ref BRANCH")

    def wait_for(self, git_url: str, branch: str, commit: str | None, timeout: float) -> str:
        """The branch's commit on the remote; with `commit`, wait until the remote serves it
        (the lab's mirror follows new commits within a few seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            served = self.remote_commit(git_url, branch)
            if served is None:
                raise VpclabError(
                    f"the lab's git remote has no branch {branch!r}", "pass --ref BRANCH"
                )
            if commit is None or served == commit:
                return served
            if time.monotonic() > deadline:
                raise VpclabError(
                    f"the lab's git remote serves {served[:12]} on {branch}, not {commit[:12]}, "
                    f"after {timeout:.0f} s",
                    "see 'vpclab local status' and the agent log",
                )
            time.sleep(0.5)

    def checkout(self, git_url: str, commit: str) -> None:
        """Clone once, then fetch and check out `commit`, removing what the last build left
        (but what `KEEP` names)."""
        ws, url = shlex.quote(self.root), shlex.quote(git_url)
        self.run(
            f"set -e; if [ ! -d {ws}/.git ]; then mkdir -p {ws}; git clone --quiet {url} {ws}; fi; "
            f"cd {ws}; git remote set-url origin {url}; git fetch --quiet --prune origin; "
            f"git checkout --quiet --force --detach {shlex.quote(commit)}; "
            f"git clean -ffdxq {' '.join(f'-e {keep}' for keep in KEEP)}",
            timeout=300,
        )

    def put_text(self, relative: str, text: str) -> str:
        """Write a file under the user's home (theirs, 0600); its absolute path."""
        path = f"{self.home}/{relative}"
        folder = path.rsplit("/", 1)[0]
        data = base64.b64encode(text.encode()).decode()
        self.run(
            f"umask 077; mkdir -p {shlex.quote(folder)}; "
            f"echo {data} | base64 -d > {shlex.quote(path)}"
        )
        return path

    # --- the Workspace protocol -------------------------------------------------------------

    def sh(self, script: str, env: Mapping[str, str], on_line: Callable[[str], None]) -> int:
        settings = {**self.base_env, "WORKSPACE": self.root, **env}
        assigns = " ".join(shlex.quote(f"{k}={v}") for k, v in settings.items())
        inner = (
            f"cd {shlex.quote(self.root)} && exec env -i {assigns} "
            f"/bin/sh -xe -c {shlex.quote(script)}"
        )
        chan = self.host.transport.open_session(timeout=self.host.connect_timeout)
        try:
            chan.set_combine_stderr(True)
            chan.exec_command(self._as_user(inner))
            chan.shutdown_write()
            pending = b""
            while True:
                data = chan.recv(65536)
                if not data:
                    break
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    on_line(line.decode(errors="replace").rstrip("\r"))
            if pending:
                on_line(pending.decode(errors="replace"))
            return chan.recv_exit_status()
        finally:
            chan.close()

    def collect(self, patterns: str) -> dict[str, bytes]:
        starts = sorted({literal_prefix(p) or "." for p in split_patterns(patterns)})
        listed = self.run(
            f"cd {shlex.quote(self.root)} && "
            f"find {' '.join(shlex.quote(s) for s in starts)} -type f 2>/dev/null || true"
        )
        found = [line.removeprefix("./") for line in listed.splitlines() if line.strip()]
        wanted = match(found, patterns)
        if not wanted:
            return {}
        names = " ".join(shlex.quote(p) for p in wanted)
        packed = self.run(f"cd {shlex.quote(self.root)} && tar -cf - {names} | base64 -w0")
        files = {}
        with tarfile.open(fileobj=io.BytesIO(base64.b64decode(packed)), mode="r:") as tar:
            for member in tar.getmembers():
                extracted = tar.extractfile(member)
                if extracted is not None:
                    files[member.name] = extracted.read()
        return files
