"""The library's front door, used by the CLI, the notebooks and Jenkins:
spec -> steps -> (control plane, data plane) -> state -> checks -> report."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from vpclab import report
from vpclab.aws import admin, guard, owner, teardown
from vpclab.aws.inventory import read_state
from vpclab.aws.retry import Pacing
from vpclab.aws.session import Cloud, connect
from vpclab.checklist import CheckResult, failed
from vpclab.checks import Facts, live, run_checks
from vpclab.errors import VpclabError
from vpclab.hosts.ssh import known_hosts_path, pin_host_keys
from vpclab.localcloud import agent, motoserver, netns
from vpclab.outputs import DataPlaneStatus, HostStatus, LabOutputs
from vpclab.paths import keys_dir, local_dir
from vpclab.pipeline import builds as pipeline_builds
from vpclab.pipeline.builds import BuildSummary
from vpclab.spec import STEPS, LabSpec, Target, load_spec, parse_target
from vpclab.steps import BUILT, require_built, steps_through
from vpclab.steps.context import Context


def local_endpoint(local_dir: Path) -> str:
    """The local target's control plane: AWS_ENDPOINT_URL, else the shared moto server in
    the state folder (started on demand)."""
    env = os.environ.get("AWS_ENDPOINT_URL")
    if env:
        return env
    return motoserver.start(local_dir).endpoint


class CheckpointFailed(AssertionError):
    """A notebook checkpoint with a FAIL: the message is the checklist."""


class Lab:
    # How long AWS waits and retries may take; tests pass Pacing.fake() (no real time).
    pacing: Pacing = Pacing()
    # Finds the operator's public address for admin_cidr = "auto" (target aws only).
    ip_resolver: Callable[[], str] = staticmethod(admin.public_ip)

    def __init__(
        self,
        spec_path: str | Path = "lab.toml",
        target: Target | str | None = None,
        say: Callable[[str], None] = print,
    ) -> None:
        self.spec_path = Path(spec_path).resolve()
        self.spec: LabSpec = load_spec(self.spec_path)
        self.target: Target = self._choose_target(target)
        self.say = say

    def _choose_target(self, given: Target | str | None) -> Target:
        """The flag, else VPCLAB_TARGET, else the spec's (validated with the spec)."""
        if given is not None:
            return parse_target(given, "--target")
        env = os.environ.get("VPCLAB_TARGET")
        if env:
            return parse_target(env, "VPCLAB_TARGET")
        return self.spec.target

    @cached_property
    def cloud(self) -> Cloud:
        endpoint = local_endpoint(self.local_dir) if self.target is Target.local else None
        return connect(self.target, self.spec.region, endpoint)

    @property
    def local_dir(self) -> Path:
        return local_dir(self.spec_path)

    @property
    def keys_dir(self) -> Path:
        return keys_dir(self.spec.name, self.spec_path)

    def context(self) -> Context:
        return Context(
            self.spec,
            self.cloud,
            self.spec_path,
            self.say,
            pacing=self.pacing,
            creator=self._creator(),
        )

    def built_steps(self, through: str | None = None) -> list[str]:
        return steps_through(through, self.spec.steps)

    def _resolve_admin(self) -> None:
        """admin_cidr = "auto": the operator's address on aws (one HTTPS request), the local
        cloud's internet side on local (none)."""
        self.spec = admin.resolve(self.spec, self.target, self.ip_resolver)

    def _before_aws_up(
        self,
        steps: list[str],
        yes: bool,
        allow_world_admin: bool,
        ask: Callable[[str], bool] | None,
    ) -> None:
        state = read_state(self.cloud, self.spec.name, self.spec.az)
        guard.before_up(
            self.cloud,
            self.spec,
            state,
            steps,
            say=self.say,
            yes=yes,
            allow_world_admin=allow_world_admin,
            ask=ask,
        )

    def _creator(self) -> str | None:
        """The caller's ARN on target aws (tagged on what is created, checked before any
        change); None on the local target, where the lab is one user's."""
        if self.target is not Target.aws:
            return None
        if "_creator_arn" not in self.__dict__:
            self.__dict__["_creator_arn"] = owner.caller_arn(self.cloud)
        return self.__dict__["_creator_arn"]

    def account(self) -> str:
        """Who and where: shown before any change on the aws target."""
        ident = self.cloud.client("sts").get_caller_identity()
        return f"account {ident['Account']} in {self.spec.region}"

    def up(
        self,
        through: str | None = None,
        *,
        yes: bool = False,
        allow_world_admin: bool = False,
        ask: Callable[[str], bool] | None = None,
    ) -> list[str]:
        """Apply the steps in order, through `through`, then let the data plane follow.
        Idempotent. On target aws, preflight and a confirmation come first (`yes` skips the
        question; `ask` replaces the terminal prompt)."""
        steps = self.built_steps(through)
        self._resolve_admin()
        if self.target is Target.aws:
            self._before_aws_up(steps, yes, allow_world_admin, ask)
        ctx = self.context()
        hosts_ready = False
        for step in steps:
            # The deployment steps work on the hosts: they must be up (and pinned) first.
            if getattr(BUILT[step], "NEEDS_HOSTS", False) and not hosts_ready:
                self.follow_dataplane()
                hosts_ready = True
            self.say(f"== {step}")
            BUILT[step].apply(ctx)
        self.follow_dataplane()
        return steps

    def dataplane_off(self) -> str | None:
        """Why the hosts do not run here, or None when the local data plane can run."""
        if self.target != "local":
            return "live probes run on the local target only"
        if os.environ.get("VPCLAB_DATAPLANE", "on") == "off":
            return "the local data plane is switched off (VPCLAB_DATAPLANE=off)"
        return netns.unsupported_reason()

    def follow_dataplane(self, timeout: float = 60.0) -> dict | None:
        """Local target: start the agent, wait until the hosts match the control plane, and
        pin their host keys. Returns the lab's data-plane status, or None when off."""
        reason = self.dataplane_off()
        if reason:
            if self.target == "local":
                self.say(f"hosts skipped: {reason}")
            return None
        agent.start(self.local_dir, self.cloud.endpoint, self.spec.region)
        lab_status = agent.wait_converged(self.local_dir, self.spec.name, timeout)
        known = known_hosts_path(self.spec.name, self.spec_path)
        for host in lab_status.get("hosts", {}).values():
            if host.get("host_key"):
                for address in filter(None, (host.get("private_ip"), host.get("public_ip"))):
                    pin_host_keys(known, address, [host["host_key"]])
        if lab_status.get("hosts"):
            self.say(f"hosts up: {', '.join(sorted(lab_status['hosts']))}")
        return lab_status

    def verify(self, step: str | None = None, through: str | None = None) -> list[CheckResult]:
        """The checklist of one step, or of the built steps through `through`. Only reads."""
        steps = [require_built(step)] if step else self.built_steps(through)
        self._resolve_admin()
        results = run_checks(Facts(self.spec, self.cloud, self.spec_path), steps)
        reason = self.dataplane_off()
        if reason:
            results += live.skipped(set(steps), reason)
        else:
            results += live.live_checks(self.spec.name, self.local_dir, set(steps))
        order = {name: i for i, name in enumerate(STEPS)}
        return sorted(results, key=lambda r: order[r.step])  # stable: API checks first

    def checkpoint(self, step: str) -> None:
        """A notebook's last cell: print the step's checklist; raise if anything FAILs."""
        results = self.verify(step=step)
        text = report.to_text(results)
        if failed(results):
            raise CheckpointFailed(f"checkpoint {step} failed:\n{text}")
        print(text)

    def status(self) -> LabOutputs:
        """What exists, by role, with ids and addresses (terraform-style output names)."""
        state = read_state(self.cloud, self.spec.name, self.spec.az)
        return LabOutputs.read(
            self.spec.name, self.target, self.spec.region, state, self.dataplane_status()
        )

    def dataplane_status(self) -> DataPlaneStatus:
        """The local hosts of this lab as the agent reports them, or why there are none."""
        reason = self.dataplane_off()
        if reason:
            return DataPlaneStatus(running=False, reason=reason)
        current = agent.status(self.local_dir)
        lab_status = (current or {}).get("labs", {}).get(self.spec.name)
        if lab_status is None:
            why = "the local agent is not running" if current is None else "no hosts yet"
            return DataPlaneStatus(running=current is not None, reason=why)
        fields = set(HostStatus.__dataclass_fields__) - {"name"}
        hosts = {
            name: HostStatus(name=name, **{k: v for k, v in h.items() if k in fields})
            for name, h in sorted(lab_status.get("hosts", {}).items())
        }
        return DataPlaneStatus(
            running=True, reason=None, web_url=lab_status.get("web_url"), hosts=hosts
        )

    def pipeline_builds(self, count: int = 10) -> list[BuildSummary]:
        """The last pipeline builds of this lab, newest first (from the state folder)."""
        return pipeline_builds.last(
            pipeline_builds.builds_dir(self.spec.name, self.spec_path), count
        )

    def dashboard_files(self, folder: str | Path) -> list[Path]:
        """Write the Grafana provisioning files and the dashboard JSON (generated code)."""
        from vpclab.monitoring import grafana

        return grafana.write(self.spec, Path(folder))

    def dashboard_png(self, path: str | Path, minutes: float = 15) -> Path:
        """Draw the dashboard's panels from the live Prometheus' query_range into one PNG."""
        from vpclab.monitoring import draw
        from vpclab.monitoring.panels import dashboard_panels
        from vpclab.steps import monitoring, remote

        ctx = self.context()
        reason = remote.unreachable(ctx)
        if reason:
            raise VpclabError(f"cannot read Prometheus: {reason}", "run 'vpclab up' as root")
        panels = dashboard_panels(self.spec.monitoring.rate_window)
        data = draw.fetch(monitoring.api(ctx), panels, minutes)
        return draw.draw(data, Path(path), f"{self.spec.name}: microblog, last {minutes:g} min")

    def down(self, dry_run: bool = False) -> list[str]:
        """Tear down every tagged resource; raises naming what is left, if anything is."""
        return teardown.down(
            self.cloud,
            self.spec.name,
            self.spec.az,
            self.keys_dir,
            say=self.say,
            dry_run=dry_run,
            pacing=self.pacing,
            creator=self._creator(),
        )
