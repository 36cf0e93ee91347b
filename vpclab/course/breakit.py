"""What the notebooks' "break it and watch" cells use around their boto3 calls: whether the
hosts they watch are up, bounded attempts made on the wire by the hosts themselves (over the
same pinned SSH sessions the deployment steps use), and the checklist lines that matter.

The cells break and restore with the raw API, as a student would; this module only watches.
Every attempt is a new connection (a security group change does not cut a flow that is
already established) and every attempt is bounded.
"""

from __future__ import annotations

import errno
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vpclab import remote, report
from vpclab.errors import VpclabError

if TYPE_CHECKING:
    from vpclab.lab import Lab

PACKAGE = "flask"  # the first thing the app's install downloads
CONNECT_TIMEOUT = 2.0  # seconds; a security group drops silently, so a block is a timeout
DOWNLOAD_TIMEOUT = 3.0
LOGIN_TIMEOUT = 3.0
UNREACHABLE = (errno.ENETUNREACH, errno.EHOSTUNREACH)  # told apart: nothing routes there

# Run by the source host's own python3: one TCP connect, told by how it ended. "refused"
# still means the packet got through every firewall: nothing listens on that port yet.
_CONNECT = """
import errno, socket, sys
UNREACHABLE = (errno.ENETUNREACH, errno.EHOSTUNREACH)
s = socket.socket()
s.settimeout(float(sys.argv[3]))
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("connected")
except ConnectionRefusedError:
    print("refused")
except TimeoutError:
    print("timed out")
except OSError as exc:
    print("no route" if exc.errno in UNREACHABLE else f"failed: {exc.strerror or exc}")
"""


@dataclass(frozen=True)
class Attempt:
    """One bounded attempt on the wire and how it ended."""

    what: str  # who tried what, e.g. "jenkins → web:22"
    outcome: str  # connected, refused, timed out, downloaded, failed, logged in, ...
    detail: str = ""  # volatile values (addresses, file names): printed last

    def __str__(self) -> str:
        return f"{self.what}: {self.outcome}" + (f" | {self.detail}" if self.detail else "")


def hosts_missing(lab: Lab, *roles: str) -> str | None:
    """Why the cell cannot watch the wire here (no data plane, or a server not running yet),
    or None when every named role's host is up."""
    off = lab.dataplane_off()
    if off:
        return off
    status = lab.dataplane_status()
    up = {h.role for h in status.hosts.values() if h.booted}
    if not up:
        return "no servers running yet"
    lacking = [role for role in roles if role not in up]
    if lacking:
        return f"no {' or '.join(lacking)} server running yet"
    return None


def settle(lab: Lab) -> None:
    """Wait (bounded) until the local data plane has applied the control plane's latest
    change, so the next attempt sees it. AWS applies its own within seconds."""
    lab.site.wait_applied(lab)


def connect(
    lab: Lab,
    source: str,
    role: str,
    port: int,
    *,
    public: bool = False,
    timeout: float = CONNECT_TIMEOUT,
) -> Attempt:
    """A new TCP connection from `source` (a role's host, or `internet`) to a role's private
    address, or with `public` to its public one."""
    ctx = lab.context()
    here = remote.where(ctx, role)
    address = (here.public_ip if public else None) or here.private_ip
    what = f"{source} → {role}:{port}"
    if source == "internet":
        try:
            with remote.connect(ctx, address, port, timeout):
                return Attempt(what, "connected", address)
        except ConnectionRefusedError:
            return Attempt(what, "refused", address)
        except TimeoutError:
            return Attempt(what, "timed out", address)
        except OSError as exc:
            outcome = "no route" if exc.errno in UNREACHABLE else f"failed: {exc}"
            return Attempt(what, outcome, address)
    argv = ["python3", "-c", _CONNECT, address, str(port), str(timeout)]
    ran = remote.shared(ctx, source).run(shlex.join(argv), check=False, timeout=timeout + 15)
    return Attempt(what, ran.stdout.strip() or f"failed: {ran.stderr.strip()[-200:]}", address)


def download(lab: Lab, role: str = "app", *, timeout: float = DOWNLOAD_TIMEOUT) -> Attempt:
    """`pip download` of the app's first requirement on a role's host, as the app's install
    does: from the lab internet's wheel index locally, from PyPI on AWS. Bounded."""
    ctx = lab.context()
    found = remote.services(ctx)
    args = found.pip_args if found else []
    index = next((a for a in args if a.startswith("http")), "PyPI")
    pip = shlex.join(
        ["python3", "-m", "pip", "download", "--no-deps", "--no-cache-dir", "-q"]
        + ["--disable-pip-version-check", "--timeout", f"{timeout:g}", "--retries", "0"]
        + [*args, PACKAGE]
    )
    # A scratch folder, removed whatever pip's exit; its name never reaches the output.
    line = f'd=$(mktemp -d) && cd "$d" && {pip} -d .; rc=$?; ls "$d"; rm -rf "$d"; exit $rc'
    ran = remote.shared(ctx, role).run(line, check=False, timeout=timeout + 60)
    what = f"{role}: pip download {PACKAGE}"
    if ran.ok:
        saved = ran.stdout.split() or [PACKAGE]
        return Attempt(what, "downloaded", f"{saved[-1]} from {index}")
    errors = [ln for ln in ran.stderr.splitlines() if ln.startswith("ERROR")] or [
        ran.stderr.strip()[-200:]
    ]
    return Attempt(what, "failed", f"{errors[0]} (index {index})")


def login(lab: Lab, role: str, *, timeout: float = LOGIN_TIMEOUT) -> Attempt:
    """A fresh SSH login to a role's host as `vpclab ssh` makes it (the app through the web
    server), bounded: its hostname, or why it failed."""
    host = remote.open_role(lab.context(), role)
    host.connect_timeout = timeout
    what = f"ssh ubuntu@{role}" + (f" via {host.via.name}" if host.via else "")
    try:
        name = host.run("hostname").stdout.strip()
        return Attempt(what, "logged in", name)
    except VpclabError as exc:
        return Attempt(what, "failed", exc.problem)
    finally:
        remote.close(host)


def lines(lab: Lab, step: str, *ids: str) -> str:
    """The named checks of a step's checklist, as the checkpoint prints them (only they run:
    `Lab.verify` says which ids a step has)."""
    results = {r.id: r for r in lab.verify(step=step, only=ids)}
    return report.to_text([results[i] for i in ids])
