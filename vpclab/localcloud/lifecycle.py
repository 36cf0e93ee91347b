"""The local cloud's lifecycle for `Lab` (and so `vpclab local ...`): its control-plane
endpoint, starting and stopping the moto server and the agent, forcing a lab's hosts away,
and the agent's report on one lab's hosts."""

from __future__ import annotations

import os
from pathlib import Path

from vpclab.localcloud import cleanup, client, motoserver
from vpclab.localcloud.status import DataPlaneStatus


def local_endpoint(local_dir: Path) -> str:
    """The local target's control plane: AWS_ENDPOINT_URL, else the shared moto server in
    the state folder (started on demand)."""
    env = os.environ.get("AWS_ENDPOINT_URL")
    if env:
        return env
    return motoserver.start(local_dir).endpoint


def has_control_plane(local_dir: Path) -> bool:
    """Without starting one: AWS_ENDPOINT_URL is set, or the local moto server is up."""
    return bool(os.environ.get("AWS_ENDPOINT_URL")) or motoserver.status(local_dir) is not None


def start(local_dir: Path, endpoint: str, region: str, lab_id: str, off: str | None) -> list[str]:
    """Start the agent (unless the data plane is `off`, saying why) beside the control plane
    at `endpoint`; what is running, as lines."""
    lines = [f"control plane: {endpoint}"]
    if off:
        return [*lines, f"data plane: off ({off})"]
    pid = client.start(local_dir, endpoint, region, say=lines.append)
    return [*lines, f"data plane: agent running (pid {pid}), lab id {lab_id}"]


def stop(local_dir: Path) -> list[str]:
    """Stop the agent (its hosts go) and this state folder's moto server (its state is kept
    for the next start)."""
    lines = []
    if client.stop(local_dir):
        lines.append("data plane: agent stopped, hosts and namespaces removed")
    stopped = motoserver.stop(local_dir)
    lines.append(
        "control plane: moto server stopped"
        if stopped
        else "control plane: no moto server of ours was running"
    )
    return lines


def reset(local_dir: Path) -> list[str]:
    """Stop the local cloud and forget its state (the recording and its key): the next
    start is an empty cloud, which `vpclab up` builds again."""
    lines = stop(local_dir)
    motoserver.forget(local_dir)
    return [*lines, "control plane: recording and its key removed; the next start is empty"]


def control_plane(local_dir: Path) -> str:
    server = motoserver.status(local_dir)
    if server is None:
        return "control plane: not running (vpclab local start)"
    return f"control plane: {server.endpoint} (pid {server.pid})"


def force_down(local_dir: Path, lab_id: str, all_labs: bool = False) -> list[str]:
    """Remove a lab's hosts from this machine, by its id, even after a crash; with
    `all_labs`, every vpclab lab on the machine (their agents are stopped first, or they
    would rebuild them). The control plane is left as it is."""
    removed: list[str] = []
    client.stop(local_dir)
    if all_labs:
        for pid in client.stop_all():
            removed.append(f"agent {pid}")
        for lid in cleanup.all_lab_ids():
            removed += cleanup.force_down(lid)
    removed += cleanup.force_down(lab_id)
    return removed


def dataplane_status(local_dir: Path, lab: str, lab_id: str, off: str | None) -> DataPlaneStatus:
    """The lab's hosts as the agent reports them, or why there are none."""
    if off:
        return DataPlaneStatus(running=False, reason=off, lab_id=None, web_url=None)
    current = client.status(local_dir)
    lab_status = current.labs.get(lab) if current else None
    if lab_status is None:
        why = "the local agent is not running" if current is None else "no hosts yet"
        return DataPlaneStatus(running=current is not None, reason=why, lab_id=lab_id, web_url=None)
    return DataPlaneStatus(
        running=True,
        reason=None,
        lab_id=lab_status.lab_id,
        web_url=lab_status.web_url,
        hosts=dict(sorted(lab_status.hosts.items())),
        prometheus_url=lab_status.prometheus_url,
        alertmanager_url=lab_status.alertmanager_url,
    )
