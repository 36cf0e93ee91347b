"""The local cloud's host agent: it makes Linux network namespaces follow moto's state.

Run detached (`client.start`), it polls the control plane about every 0.5 s, discovers labs
by their `vpclab:lab` tag, and converges each one (see `converger`, and `dataplane` for the
model). A raw boto3 call from a notebook therefore takes effect on the wire too. Every loop
it writes `agent-status.json` (an `AgentStatus`); SIGTERM tears everything down. SIGUSR1
hands over instead (see `handover`): the agent exits and leaves every host running for the
next agent, started from new code, to adopt.

Each loop first reads the control plane's change count (`moto_main`), then its snapshot:
the status says which change the data plane has applied, so checks can wait for it. The
snapshot (eight Describe calls) is fetched again only when the count moved, or after
`REFRESH` seconds: an idle lab's polls then cost the control plane one small read each,
not a third of a core.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from vpclab.errors import VpclabError
from vpclab.localcloud import cleanup, dataplane, handover, imds, motoserver, names
from vpclab.localcloud.client import INTERVAL, STATUS_FILE, fingerprint
from vpclab.localcloud.converger import LabRuntime, short_name
from vpclab.localcloud.dataplane import HostPlan, Snapshot
from vpclab.localcloud.files import read_json, read_text, write_json
from vpclab.localcloud.publish import Publisher
from vpclab.localcloud.status import AgentStatus

log = logging.getLogger("vpclab.agent")

# Seconds a snapshot is reused while the change count stands still: a safety net for a change
# the count missed (every mutating call counts, and moto's reset).
REFRESH = 5.0


class Snapshots:
    """The control plane's state as of a change count: the last snapshot while no change was
    counted since it was fetched and it is younger than REFRESH, else a new one. Without a
    count (plain moto, or no answer) every call fetches."""

    def __init__(self, ec2: Any, refresh: float = REFRESH) -> None:
        self.ec2, self.refresh = ec2, refresh
        self.fetches = 0
        self._last: tuple[Snapshot, int | None, float] | None = None

    def get(self, applied: int | None) -> Snapshot:
        now = time.monotonic()
        if self._last is not None and applied is not None:
            snap, count, at = self._last
            if count == applied and now - at < self.refresh:
                return snap
        self._last = None  # a failed fetch leaves nothing to reuse
        snap = Snapshot.fetch(self.ec2)
        self.fetches += 1
        self._last = (snap, applied, now)
        return snap


class Agent:
    def __init__(
        self,
        local_dir: Path,
        endpoint: str,
        region: str,
        repo_root: Path | None = None,
        interval: float = INTERVAL,
    ) -> None:
        from botocore.config import Config

        from vpclab.aws.session import LOCAL_CREDENTIALS, new_session

        self.local_dir = local_dir
        self.state_root = local_dir.parent  # a lab's id is its name plus this folder
        self.interval = interval
        # Short timeouts and one attempt: a control plane that does not answer is reported
        # in the status at once, not after boto3's retries.
        config = Config(connect_timeout=1, read_timeout=30, retries={"max_attempts": 1})
        self.ec2 = new_session(region, **LOCAL_CREDENTIALS).client(
            "ec2", endpoint_url=endpoint, config=config
        )
        self.endpoint, self.region = endpoint, region
        self.labs: dict[str, LabRuntime] = {}
        self.repo_root = repo_root
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="boot")
        # One at a time: labs share the wheel cache.
        self.services_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="services")
        self.publisher = Publisher()
        self.metadata = imds.Metadata(
            imds.InstanceFacts(new_session(region, **LOCAL_CREDENTIALS), endpoint, region),
            endpoint,
        )
        self.stopping = threading.Event()
        self.handing_over = False  # set with `stopping`: exit, leaving everything running
        self.wake = threading.Event()
        self.generation = 0
        self.applied: int | None = None
        self.snapshots = Snapshots(self.ec2)
        self.previous_ports: dict[str, int] = {}
        self._head: str | None = None
        self._head_checked = -1e9

    def lab_id(self, lab: str) -> str:
        return names.lab_id(lab, self.state_root)

    def project_head(self) -> str | None:
        """A digest of the project's HEAD and every branch and tag, looked up at most every 2 s
        (it is cheap, not free): a new commit or a new branch is served, as a push would be."""
        now = time.monotonic()
        if self.repo_root is not None and now - self._head_checked > 2.0:
            self._head_checked = now
            done = subprocess.run(
                ["git", "-C", str(self.repo_root), "show-ref", "--head"],
                capture_output=True,
                text=True,
            )
            refs = done.stdout if done.returncode == 0 else ""
            self._head = hashlib.sha256(refs.encode()).hexdigest() if refs else None
        return self._head

    # -- hosts

    def boot_host(self, lab: str, lid: str, h: HostPlan) -> Any:
        try:
            host = self._boot(lab, lid, h)
        except Exception:
            log.exception("%s: host %s did not boot", lab, h.netns)
            raise
        log.info("%s: host %s booted (pid %d)", lab, h.netns, host.pid)
        return host

    def _boot(self, lab: str, lid: str, h: HostPlan) -> Any:
        from vpclab.localcloud import hostboot

        key = self._authorized_key(lab, h)
        attr = self.ec2.describe_instance_attribute(InstanceId=h.instance_id, Attribute="userData")
        encoded = attr.get("UserData", {}).get("Value")
        user_data = base64.b64decode(encoded) if encoded else None
        host_dir = self.local_dir / "hosts" / lab / short_name(lid, h.netns)
        marker = host_dir / "instance-id"
        # The folder is the instance's disk: a new instance in the same role starts clean.
        # The key is part of the identity: a fresh control plane with seeded ids reuses ids.
        identity = f"{h.instance_id} {key}"
        if host_dir.exists() and read_text(marker) != identity:
            shutil.rmtree(host_dir)
        host_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(identity)
        return hostboot.boot(
            hostboot.HostSpec(
                netns=h.netns,
                host_dir=host_dir,
                hostname=h.role or h.instance_id,
                authorized_key=key,
                user_data=user_data,
                kit=h.role == "jenkins",  # the pipeline's Verify runs the kit's vpclab
                aws_config=imds.aws_config(self.region),
            )
        )

    def _authorized_key(self, lab: str, h: HostPlan) -> str | None:
        """The key pair's public key line; None for an instance launched without one."""
        if not h.key_name:
            return None
        with contextlib.suppress(Exception):
            pairs = self.ec2.describe_key_pairs(KeyNames=[h.key_name], IncludePublicKey=True)
            key = pairs["KeyPairs"][0].get("PublicKey")
            if key:
                return key.strip()
        # The kit keeps the public half beside the private key.
        pub = self.state_root / "labs" / lab / "keys" / f"{h.key_name}.pub"
        if pub.exists():
            return pub.read_text().strip()
        raise VpclabError(
            f"no public key for key pair {h.key_name}",
            "import the key pair again ('vpclab up --through instances')",
        )

    # -- the loop

    def run(self) -> None:
        self.adopt(handover.take(self.local_dir))
        previous = read_json(self.local_dir / STATUS_FILE) or {}
        for lab, data in (previous.get("labs") or {}).items():
            if lab not in self.labs:
                cleanup.force_down(data.get("lab_id") or self.lab_id(lab))  # a crashed agent's
            urls = {lab: data.get("web_url")} | {
                f"{lab}:{ui}": data.get(f"{ui}_url") for ui in ("prometheus", "alertmanager")
            }
            for key, url in urls.items():
                with contextlib.suppress(ValueError, IndexError, AttributeError):
                    self.previous_ports[key] = int(url.rsplit(":", 1)[1].strip("/"))
        try:
            while not self.stopping.is_set():
                started = time.time()
                self.wake.clear()
                error = self.loop()
                self.generation += 1
                self.write_status(started, error)
                self.wake.wait(max(0.0, self.interval - (time.time() - started)))
        finally:
            if self.handing_over:
                self.hand_over()
            else:
                self.shutdown()

    def adopt(self, record: handover.Handover | None) -> None:
        """Take up the labs an earlier agent of this control plane handed over; a lab that
        does not check out is swept, and the first loop builds it again."""
        if record is None:
            return
        same_cloud = (record.endpoint, record.region) == (self.endpoint, self.region)
        for lab in record.labs:
            runtime = LabRuntime(self, lab.lab, self.lab_id(lab.lab))
            try:
                adopted = same_cloud and handover.adopt(runtime, lab)
            except Exception:
                log.exception("%s: adoption failed", lab.lab)
                adopted = False
            if adopted:
                self.labs[lab.lab] = runtime
            else:
                log.warning("%s: not adopted: rebuilding", lab.lab)
                cleanup.force_down(lab.lab_id)

    def hand_over(self) -> None:
        """Exit for the next agent: record what runs, stop nothing."""
        self.pool.shutdown(wait=True)  # boots under way finish, and are handed over too
        self.services_pool.shutdown(wait=True)
        labs = []
        for lab, runtime in self.labs.items():
            try:
                labs.append(handover.record(runtime))
            except Exception:
                log.exception("%s: hand-over failed: the next agent rebuilds it", lab)
        record = handover.Handover(os.getpid(), self.endpoint, self.region, tuple(labs))
        handover.write(self.local_dir, record)
        self.publisher.close()
        self.metadata.close()
        log.info("handed over %d labs", len(labs))

    def loop(self) -> str | None:
        # The count first, then the snapshot: the snapshot holds at least those changes.
        applied = motoserver.mutations(self.endpoint, timeout=1.0)
        try:
            snap = self.snapshots.get(applied)
        except Exception as exc:  # moto restarting: keep what runs, report, retry
            return str(exc)
        self.applied = applied
        wanted = dataplane.labs_in(snap)
        for lab in list(self.labs):
            if lab not in wanted:
                self.labs.pop(lab).teardown()
        for lab in sorted(wanted):
            runtime = self.labs.setdefault(lab, LabRuntime(self, lab, self.lab_id(lab)))
            try:
                runtime.converge(dataplane.plan(snap, lab, runtime.lid))
            except Exception as exc:
                log.exception("%s: converge failed", lab)
                runtime.errors.append(str(exc))
        return None

    def write_status(self, started: float, error: str | None) -> None:
        current = AgentStatus(
            pid=os.getpid(),
            generation=self.generation,
            loop_started=started,
            updated=time.time(),
            endpoint=self.endpoint,
            region=self.region,
            fingerprint=fingerprint(),
            applied=self.applied if error is None else None,
            control_plane_error=error,
            labs={lab: rt.status() for lab, rt in self.labs.items()},
        )
        write_json(self.local_dir / STATUS_FILE, current.to_dict())

    def shutdown(self) -> None:
        for lab in list(self.labs):
            runtime = self.labs.pop(lab)
            try:
                runtime.teardown()
            except Exception:
                log.exception("%s: teardown failed", lab)
                cleanup.force_down(runtime.lid)
        self.publisher.close()
        self.metadata.close()
        self.pool.shutdown(wait=True)
        self.services_pool.shutdown(wait=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="vpclab-agent")
    parser.add_argument("--local-dir", required=True, type=Path)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--repo-root", type=Path, default=None)
    parser.add_argument("--interval", type=float, default=INTERVAL)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    agent = Agent(
        args.local_dir.resolve(),
        args.endpoint,
        args.region,
        args.repo_root.resolve() if args.repo_root else None,
        args.interval,
    )

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d: stopping", signum)
        agent.handing_over = False  # a full stop wins over a hand-over not yet under way
        agent.stopping.set()
        agent.wake.set()

    def on_handover(signum: int, _frame: object) -> None:
        log.info("signal %d: handing over", signum)
        agent.handing_over = True
        agent.stopping.set()
        agent.wake.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGUSR1, on_handover)
    log.info("agent %d: control plane %s (%s)", os.getpid(), args.endpoint, args.region)
    agent.run()
    log.info("agent %d: stopped", os.getpid())


if __name__ == "__main__":
    main()
