"""What a lab's "internet" namespace serves: a git remote of the project and a wheel index.

Instances fetch the project and the app's requirements from here, the way they would from
GitHub and PyPI. The services listen only on the internet namespace's address, so the
private app reaches them only through the lab's NAT.

- `git://ADDRESS/microblog_VPC_deployment.git`: `git daemon`, read-only, serving a bare
  mirror of the project kept under the cache folder. It serves what is committed.
- `http://ADDRESS:PORT/`: a folder of wheels for `app/requirements.txt` and the pipeline's
  tools (`scripts/ci/requirements.txt`), as pip's `--find-links` (built on this machine with
  the hosts' own python, so the tags match). The Jenkins host's Build stage installs from it
  the way real Jenkins installs from PyPI.

Both run in the foreground as children the caller tracks (`InternetServices.stop`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from vpclab.errors import VpclabError
from vpclab.localcloud.netns_socket import connect_in
from vpclab.localcloud.orphans import AdoptedProcess

REPO_NAME = "microblog_VPC_deployment.git"
REQUIREMENTS = "app/requirements.txt"
CI_REQUIREMENTS = "scripts/ci/requirements.txt"  # optional: a project without a pipeline
GIT_PORT = 9418
HTTP_PORT = 8080
HOST_PYTHON = "/usr/bin/python3"  # the hosts' interpreter (the "local image")
STAMP = ".vpclab-stamp"
KEEP_WHEEL_SETS = 3  # requirement sets kept in the machine's wheel store


@dataclass
class InternetServices:
    netns: str
    address: str
    git_url: str
    index_url: str
    repo_root: Path
    cache_dir: Path
    procs: list[subprocess.Popen[bytes] | AdoptedProcess] = field(default_factory=list)

    @property
    def trusted_host(self) -> str:
        return self.address

    def pip_args(self) -> list[str]:
        """What a host adds to `pip install` to use this index and nothing else."""
        return ["--no-index", "--find-links", self.index_url, "--trusted-host", self.address]

    def alive(self) -> bool:
        return bool(self.procs) and all(p.poll() is None for p in self.procs)

    def refresh(self) -> None:
        """Pick up new commits (and changed requirements) while the services keep running."""
        mirror_repo(self.repo_root, self.cache_dir)
        build_wheels(self.repo_root, self.cache_dir)

    def stop(self, timeout: float = 5.0) -> None:
        for proc in self.procs:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout)
        self.procs.clear()


def start_services(
    netns: str,
    address: str,
    repo_root: Path,
    cache_dir: Path,
    *,
    git_port: int = GIT_PORT,
    http_port: int = HTTP_PORT,
    timeout: float = 10.0,
) -> InternetServices:
    """Refresh the mirror and the wheels, then serve both from inside `netns` at `address`."""
    repo_root, cache_dir = repo_root.resolve(), cache_dir.resolve()
    git_base = mirror_repo(repo_root, cache_dir).parent
    wheels = build_wheels(repo_root, cache_dir)
    logs = cache_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    port_part = "" if git_port == GIT_PORT else f":{git_port}"
    services = InternetServices(
        netns=netns,
        address=address,
        git_url=f"git://{address}{port_part}/{REPO_NAME}",
        index_url=f"http://{address}:{http_port}/",
        repo_root=repo_root,
        cache_dir=cache_dir,
    )
    try:
        # Read-only: git daemon never enables receive-pack unless told to.
        services.procs.append(
            _spawn(
                netns,
                [
                    "git",
                    "daemon",
                    "--reuseaddr",
                    "--export-all",
                    "--verbose",
                    f"--base-path={git_base}",
                    f"--listen={address}",
                    f"--port={git_port}",
                    str(git_base),
                ],
                logs / "git-daemon.log",
            )
        )
        services.procs.append(
            _spawn(
                netns,
                [
                    sys.executable,
                    "-m",
                    "http.server",
                    str(http_port),
                    "--bind",
                    address,
                    "--directory",
                    str(wheels),
                ],
                logs / "wheel-index.log",
            )
        )
        for port in (git_port, http_port):
            _wait_listening(services, port, timeout)
    except BaseException:
        services.stop()
        raise
    return services


def mirror_repo(repo_root: Path, cache_dir: Path) -> Path:
    """A bare mirror of the project under cache_dir/git, made once and fetched after."""
    mirror = cache_dir / "git" / REPO_NAME
    if (mirror / "HEAD").exists():
        # From this project, even when the mirror was made from another (a lab whose
        # handout is now served, vpclab.served): the mirror's refs become this project's.
        _git(["git", "--git-dir", str(mirror), "remote", "set-url", "origin", str(repo_root)])
        _git(["git", "--git-dir", str(mirror), "fetch", "--prune", "--quiet", "origin"])
    else:
        mirror.parent.mkdir(parents=True, exist_ok=True)
        _git(["git", "clone", "--mirror", "--quiet", str(repo_root), str(mirror)])
    # Follow the project's current branch, so a clone checks out what the student works on.
    head = subprocess.run(
        ["git", "-C", str(repo_root), "symbolic-ref", "-q", "HEAD"], capture_output=True, text=True
    )
    if head.returncode == 0:
        _git(["git", "--git-dir", str(mirror), "symbolic-ref", "HEAD", head.stdout.strip()])
    return mirror


def build_wheels(repo_root: Path, cache_dir: Path, python: str | None = None) -> Path:
    """Wheels for the app's requirements, as committed and as in the work tree.

    Skipped when neither file nor the interpreter changed since the last build. The set is
    built once per machine in the shared store (`wheel_store`) and hard-linked into the lab's
    folder: ten labs graded side by side fetch and build it once. A new set replaces the
    lab's folder whole, so a running index never serves a half-built set.
    """
    python = python or _wheel_python()
    wheels = cache_dir / "wheels"
    texts = _requirement_texts(repo_root, cache_dir)
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True
    ).stdout
    stamp = hashlib.sha256("\0".join([version, *texts]).encode()).hexdigest()
    if (wheels / STAMP).exists() and (wheels / STAMP).read_text().strip() == stamp:
        return wheels
    stored = _stored_wheels(stamp, texts, python)
    staging = cache_dir / f".wheels-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        shutil.copytree(stored, staging, copy_function=_link_or_copy)
        old = cache_dir / f".wheels-old-{os.getpid()}"
        if wheels.exists():
            wheels.rename(old)
        staging.rename(wheels)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return wheels


def wheel_store() -> Path:
    """The machine's wheel sets, one folder per stamp: VPCLAB_WHEEL_CACHE, else the user's
    cache folder (~/.cache/vpclab/wheels)."""
    if os.environ.get("VPCLAB_WHEEL_CACHE"):
        return Path(os.environ["VPCLAB_WHEEL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vpclab" / "wheels"


def _stored_wheels(stamp: str, texts: list[str], python: str) -> Path:
    """The store's set for `stamp`, built with `pip wheel` if missing. Labs built at once
    each build into their own staging folder; the first rename wins."""
    store = wheel_store()
    done_dir = store / stamp[:24]
    if (done_dir / STAMP).exists():
        os.utime(done_dir / STAMP)  # recently used: kept by the pruning below
        return done_dir
    staging = store / f".staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for i, text in enumerate(texts):
            req = staging / f".requirements-{i}.txt"
            req.write_text(text)
            done = subprocess.run(
                [python, "-m", "pip", "wheel", "--quiet", "--no-cache-dir"]
                + ["--wheel-dir", str(staging), "-r", str(req)],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                raise VpclabError(
                    f"cannot build wheels for {REQUIREMENTS}: {done.stderr.strip()[-600:]}",
                    "check the pins in the requirements file",
                )
            req.unlink()
        (staging / STAMP).write_text(stamp + "\n")
        try:
            staging.rename(done_dir)
        except OSError:  # another lab stored the same set first
            if not (done_dir / STAMP).exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _prune(store, keep=KEEP_WHEEL_SETS)
    return done_dir


def _prune(store: Path, keep: int) -> None:
    """Keep the `keep` most recently used sets; labs hold hard links, not the store's files."""
    sets = [p for p in store.iterdir() if (p / STAMP).exists()]
    sets.sort(key=lambda p: (p / STAMP).stat().st_mtime, reverse=True)
    for old in sets[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem
        shutil.copy2(src, dst)


def _wheel_python() -> str:
    """The hosts' python if it has pip (the tags then match exactly), else this one.

    Debian's python3-venv brings no pip module to /usr/bin/python3; the project's venv is
    made from that same interpreter, so its wheels fit the hosts too.
    """
    if (
        Path(HOST_PYTHON).exists()
        and subprocess.run([HOST_PYTHON, "-c", "import pip"], capture_output=True).returncode == 0
    ):
        return HOST_PYTHON
    return sys.executable


def _requirement_texts(repo_root: Path, cache_dir: Path) -> list[str]:
    texts: list[str] = []
    mirror = cache_dir / "git" / REPO_NAME
    for name in (REQUIREMENTS, CI_REQUIREMENTS):
        committed = subprocess.run(
            ["git", "--git-dir", str(mirror), "show", f"HEAD:{name}"],
            capture_output=True,
            text=True,
        )
        if committed.returncode == 0 and committed.stdout not in texts:
            texts.append(committed.stdout)
        work_tree = repo_root / name
        if work_tree.exists() and work_tree.read_text() not in texts:
            texts.append(work_tree.read_text())
        if name == REQUIREMENTS and not texts:
            raise VpclabError(
                f"{REQUIREMENTS} is missing from {repo_root}",
                "the app's requirements file is part of the project",
            )
    return texts


def _git(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise VpclabError(
            f"`{' '.join(argv[:4])} ...` failed: {done.stderr.strip()[-400:]}",
            "check the project is a git repository with at least one commit",
        )


def _spawn(netns: str, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        # Its own session, so stop() can end the service and the children it forked.
        return subprocess.Popen(
            ["ip", "netns", "exec", netns, *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd="/",
            start_new_session=True,
        )


def _signal_group(proc: subprocess.Popen[bytes] | AdoptedProcess, sig: int) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def _wait_listening(services: InternetServices, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        for proc in services.procs:
            if proc.poll() is not None:
                raise VpclabError(
                    f"an internet service exited early ({proc.args[4:6]})",
                    f"see {services.cache_dir / 'logs'}",
                )
        try:
            connect_in(services.netns, (services.address, port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise VpclabError(
                    f"nothing listens on {services.address}:{port} in "
                    f"{services.netns} after {timeout:.0f} s",
                    f"see {services.cache_dir / 'logs'}",
                ) from None
            time.sleep(0.02)
