"""The library's front door, used by the CLI, the notebooks and Jenkins:
spec -> steps -> (control plane, data plane) -> state -> checks -> report."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from vpclab import cost, remote
from vpclab.aws import admin, teardown
from vpclab.aws import target as aws_target
from vpclab.aws.inventory import read_state
from vpclab.aws.retry import Pacing
from vpclab.aws.session import Cloud
from vpclab.checklist import CheckResult
from vpclab.checks import Facts, live, run_checks, step_check_ids
from vpclab.cost import CostEstimate
from vpclab.course.checkpoint import CheckpointFailed as CheckpointFailed  # re-exported
from vpclab.course.checkpoint import checkpoint_text
from vpclab.diagram import Drawing
from vpclab.errors import UsageError, VpclabError, brief_in_notebooks
from vpclab.facts.pipeline_build import inside_build
from vpclab.hosts.ssh import ssh_command
from vpclab.localcloud import lifecycle, names
from vpclab.localcloud.status import DataPlaneStatus, LabStatus
from vpclab.outputs import LabOutputs
from vpclab.paths import keys_dir, local_dir, state_root
from vpclab.pipeline import builds as pipeline_builds
from vpclab.pipeline.builds import BuildSummary
from vpclab.site import Site, site_for
from vpclab.spec import ROLES, STEPS, LabSpec, Target, load_spec, parse_target
from vpclab.steps import apply_steps, require_built, steps_through
from vpclab.steps.context import Context

if TYPE_CHECKING:
    from vpclab.course.catchup import CatchUp


def connect(site: Site, region: str, local_dir: Path) -> Cloud:
    """The Site's control plane (one seam: tests hand `Lab` a Cloud of their own here)."""
    return site.connect(region, local_dir)


def _check_ids(only: Collection[str], steps: list[str]) -> frozenset[str]:
    """`only` as a set of check ids of `steps`; an id that is not one of theirs is a usage
    error naming the ids there are."""
    ids = frozenset([only] if isinstance(only, str) else only)
    known = [i for s in steps for i in step_check_ids(s)]
    unknown = sorted(ids - set(known))
    if unknown:
        raise UsageError(
            f"no check {', '.join(map(repr, unknown))} in {', '.join(steps) or 'no step'}",
            f"give ids from: {', '.join(known)}",
        )
    return ids


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
        brief_in_notebooks()
        self.spec_path = Path(spec_path).resolve()
        self.spec: LabSpec = load_spec(self.spec_path)
        self.target: Target = self._choose_target(target)
        self.site: Site = site_for(self.target)  # all that differs between the targets
        self.say = say

    @classmethod
    def from_instance(
        cls, spec_path: str | Path = "lab.toml", say: Callable[[str], None] = print
    ) -> Lab:
        """The lab of the instance this runs on (the Jenkins server's builds, both targets):
        its name, target and region from the instance's own tags and metadata, the rest from
        the spec (the repository's), the control plane through the default credential chain
        (the instance profile's keys)."""
        from vpclab.aws import instance

        found = instance.this_lab()
        lab = cls(spec_path, found.target, say)
        lab.spec = lab.spec.model_copy(
            update={"name": found.lab, "region": found.region, "target": lab.target}
        )
        lab.__dict__["cloud"] = instance.cloud(found)  # in place of the cached property
        return lab

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
        return connect(self.site, self.spec.region, self.local_dir)

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
        self.spec = admin.resolve(self.spec, lambda: self.site.operator_cidr(self.ip_resolver))

    def _creator(self) -> str | None:
        """The caller's ARN on target aws (tagged on what is created, checked before any
        change); None on the local target, where the lab is one user's."""
        if "_creator_arn" not in self.__dict__:
            self.__dict__["_creator_arn"] = self.site.creator(self.cloud)
        return self.__dict__["_creator_arn"]

    def account(self) -> str:
        """Who and where: shown before any change on the aws target."""
        return aws_target.account(self.cloud, self.spec.region)

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
        self.site.before_up(
            self.cloud,
            self.spec,
            steps,
            say=self.say,
            yes=yes,
            allow_world_admin=allow_world_admin,
            ask=ask,
        )
        apply_steps(self.context(), steps, self.follow_dataplane, self.say)
        return steps

    def apply(self, through: str) -> list[str]:
        """`up` through `through` on the local target, with no question: the steps it had to
        change something in (the grader's repair between notebooks)."""
        if self.site.asks_before_changes:
            raise UsageError("Lab.apply is for the local target", "use Lab.up on target aws")
        self._resolve_admin()
        return apply_steps(
            self.context(), self.built_steps(through), self.follow_dataplane, self.say
        )

    @property
    def lab_id(self) -> str:
        """The lab's local id: its name plus its state folder (see `localcloud.names`)."""
        return names.lab_id(self.spec.name, state_root(self.spec_path))

    def dataplane_off(self) -> str | None:
        """Why the hosts do not run here, or None when the local data plane can run."""
        return self.site.dataplane_off()

    def follow_dataplane(self, timeout: float = 60.0) -> LabStatus | None:
        """Let the hosts follow the control plane and pin their host keys (the target's Site:
        the local agent's hosts, or AWS's console output). Returns the local data plane's
        status, or None when off, empty or on AWS."""
        return self.site.follow_dataplane(self, timeout)

    def verify(
        self,
        step: str | None = None,
        through: str | None = None,
        only: Collection[str] | None = None,
    ) -> list[CheckResult]:
        """The checklist of one step, or of the built steps through `through`; with `only`,
        just the checks of those ids (a self-check need not wait for the others). Only reads."""
        steps = [require_built(step)] if step else self.built_steps(through)
        if only is not None:
            only = _check_ids(only, steps)
        if not inside_build():  # a build's spec is the repository's; "auto" would find Jenkins
            self._resolve_admin()
        facts = Facts(self.spec, self.cloud, self.spec_path)
        results = run_checks(facts, steps, only)
        results += live.lab_live_checks(facts, set(steps), self.local_dir, only=only)
        order = {name: i for i, name in enumerate(STEPS)}
        return sorted(results, key=lambda r: order[r.step])  # stable: API checks first

    def checkpoint(self, step: str) -> None:
        """A notebook's last cell: print the step's checklist; raise if anything FAILs."""
        print(checkpoint_text(step, self.verify(step=step)))

    def status(self) -> LabOutputs:
        """What exists, by role, with ids and addresses (terraform-style output names)."""
        state = read_state(self.cloud, self.spec.name, self.spec.az)
        return LabOutputs.read(
            self.spec.name, self.target, self.spec.region, state, self.dataplane_status()
        )

    def dataplane_status(self) -> DataPlaneStatus:
        """The local hosts of this lab as the agent reports them, or why there are none."""
        return lifecycle.dataplane_status(
            self.local_dir, self.spec.name, self.lab_id, self.dataplane_off()
        )

    # -- the local cloud's lifecycle (`vpclab local ...`) and `vpclab ssh`

    def local_start(self) -> list[str]:
        """Start the local cloud: the control plane, and (as root) the agent."""
        endpoint = self.cloud.endpoint
        return lifecycle.start(
            self.local_dir, endpoint, self.spec.region, self.lab_id, self.dataplane_off()
        )

    def local_stop(self) -> list[str]:
        """Stop the agent (its hosts go) and this state folder's moto server (its state is
        kept for the next start)."""
        return lifecycle.stop(self.local_dir)

    def local_reset(self) -> list[str]:
        """Stop the local cloud and forget its control plane's state: an empty cloud."""
        return lifecycle.reset(self.local_dir)

    def local_control_plane(self) -> str:
        return lifecycle.control_plane(self.local_dir)

    def local_down(self, all_labs: bool = False) -> list[str]:
        """Remove this lab's hosts from this machine, by its id, even after a crash; with
        `all_labs`, every vpclab lab on the machine. The control plane is left as it is."""
        return lifecycle.force_down(self.local_dir, self.lab_id, all_labs)

    def ssh_argv(self, role: str, command: list[str] | None = None) -> list[str]:
        """argv of the system ssh to a lab host, host keys pinned; the private app is
        reached through the web server."""
        if role not in ROLES:
            raise UsageError(f"unknown role {role!r}", f"roles are {', '.join(ROLES)}")
        addresses = self.site.ssh_addresses(self, role)
        if role not in addresses:
            raise VpclabError(f"there is no {role} server here", "run 'vpclab up' first")
        public, private = addresses[role]
        jump = None if public else addresses.get("web", (None, None))[0]
        if not public and not jump:
            raise VpclabError(
                f"no address to reach {role}: it has no public IP and there is no web server",
                "run 'vpclab up' and try again",
            )
        return ssh_command(
            self.spec.name,
            role,
            address=public or private,
            key_name=self.spec.instance(role).key_name,
            jump=jump,
            jump_key_name=self.spec.instance("web").key_name,
            local=self.site.dials_from_lab_internet,
            command=command or None,
            spec_path=self.spec_path,
        )

    def pipeline_builds(self, count: int = 10) -> list[BuildSummary]:
        """The last pipeline builds of this lab, newest first (from the state folder)."""
        return pipeline_builds.last(
            pipeline_builds.builds_dir(self.spec.name, self.spec_path), count
        )

    def pipeline_run(
        self, ref: str | None = None, say: Callable[[str], None] | None = None
    ) -> BuildSummary:
        """Run the Jenkinsfile on the lab's Jenkins host (local target); the build's summary
        (also kept in the state folder)."""
        from vpclab.pipeline.local import run_on_lab

        return run_on_lab(self.context(), ref, say=say or self.say)

    def dashboard_files(self, folder: str | Path) -> list[Path]:
        """Write the Grafana provisioning files and the dashboard JSON (generated code)."""
        from vpclab.monitoring import grafana

        return grafana.write(self.spec, Path(folder))

    def dashboard_png(self, path: str | Path, minutes: float = 15) -> Path:
        """Draw the dashboard's panels from the live Prometheus' query_range into one PNG: the
        last `minutes`, or since Prometheus' first scrape when that is later."""
        from vpclab.facts import server_apis
        from vpclab.monitoring import draw
        from vpclab.monitoring.panels import dashboard_panels, dashboard_title

        ctx = self.context()
        reason = remote.unreachable(ctx)
        if reason:
            raise VpclabError(f"cannot read Prometheus: {reason}", "run 'vpclab up' as root")
        panels = dashboard_panels(self.spec.monitoring.rate_window)
        api = server_apis.prometheus_of(ctx)
        span = draw.window(api, minutes)
        data = draw.fetch(api, panels, span)
        return draw.draw(data, span, Path(path), dashboard_title(self.spec.name))

    def catch_up(self, step: str) -> CatchUp:
        """The rescue for a stuck student: build whatever the steps through `step` still lack
        with the library's steps, and record it (a caught-up step earns no credit)."""
        from vpclab.course.catchup import catch_up

        return catch_up(self, step)

    def cost(self) -> CostEstimate:
        """What the lab's resources that exist now would cost on AWS, an hour and a month,
        from the dated on-demand price table (on the local target nothing is billed)."""
        return aws_target.cost_now(self.cloud, self.spec)

    def cost_of_spec(self) -> CostEstimate:
        """What the whole lab the spec describes would cost on AWS."""
        return cost.estimate(self.spec)

    def _has_control_plane(self) -> bool:
        """Without starting one: the local moto server is up, or the cloud is elsewhere."""
        return self.site.has_control_plane(self.local_dir)

    def diagram(self, out: str | Path | None = None, from_spec: bool = False) -> Drawing:
        """Draw the lab: live (real addresses, traffic paths, a verdict per step) when it
        exists, else from the spec. Written to `out`, or the state folder's diagram.jpg."""
        from vpclab import diagram

        path = Path(out) if out else state_root(self.spec_path) / "diagram.jpg"
        if not from_spec and self._has_control_plane():
            data = self.status()
            if data.vpc_id or data.instances:
                steps = self.built_steps()
                grafana = self.site.why_no_grafana() is None
                return diagram.draw_live(
                    self.spec, data, self.verify(), steps, path, grafana=grafana
                )
        return Drawing(diagram.draw(self.spec, path), live=False)

    def reset(self, step: str, dry_run: bool = False) -> list[str]:
        """Remove one step's resources (and the later steps' that stand on them) so the
        step can be done again; the earlier steps are kept. A notebook's way back."""
        return teardown.reset(
            self.cloud,
            self.spec.name,
            self.spec.az,
            self.keys_dir,
            step,
            say=self.say,
            dry_run=dry_run,
            pacing=self.pacing,
            creator=self._creator(),
        )

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
