"""Pin the AWS hosts' keys from their console output, never from the network.

cloud-init prints each instance's host keys between `-----BEGIN SSH HOST KEY KEYS-----`
markers on the serial console, and EC2's GetConsoleOutput returns that text to the account
that owns the instance: a channel the control plane vouches for. The output is empty for the
first minutes after a launch, so this polls, bounded by the pacing (tests pass a fake clock).
A host whose keys never show is an error: it is never trusted on first use instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vpclab.aws.retry import Pacing, poll
from vpclab.hosts.known_hosts import parse_console_host_keys, pin_host_keys, pinned_comments


@dataclass(frozen=True)
class Pinned:
    role: str
    instance_id: str
    addresses: tuple[str, ...]
    keys: tuple[str, ...]


def console_host_keys(ec2, instance_id: str) -> list[str]:
    """The host keys in an instance's console output; [] while cloud-init has not printed
    them (boto3 decodes the base64 Output; it is absent while the console is empty). Latest:
    the newest output, not the buffer AWS snapshots at boot and keeps only for about an hour."""
    output = ec2.get_console_output(InstanceId=instance_id, Latest=True).get("Output") or ""
    return parse_console_host_keys(output)


def already_pinned(known_hosts: Path, instance: dict) -> bool:
    """Every address of this very instance is pinned (its id is the keys' comment): nothing
    to read again. A new instance at an old address is pinned anew."""
    addresses = [
        a for a in (instance.get("PrivateIpAddress"), instance.get("PublicIpAddress")) if a
    ]
    return bool(addresses) and all(
        pinned_comments(known_hosts, a) == {instance["InstanceId"]} for a in addresses
    )


def pin_from_console(
    ec2,
    instances: dict[str, dict],
    known_hosts: Path,
    pacing: Pacing,
    say: Callable[[str], None] = lambda _line: None,
) -> list[Pinned]:
    """Pin every instance's host keys (by role, from describe_instances) at its private and
    public addresses, waiting for each console to show them; an instance already pinned is
    not read again (a later `up` waits for nothing)."""
    pinned = []
    for role, instance in sorted(instances.items()):
        instance_id = instance["InstanceId"]
        if already_pinned(known_hosts, instance):
            continue
        keys = poll(
            lambda instance_id=instance_id: console_host_keys(ec2, instance_id) or None,
            bool,
            what=f"the {role} server's host keys in its console output ({instance_id})",
            budget=pacing.state_budget,
            pacing=pacing,
            say=say,
            hint="see the instance's system log in the EC2 console; once it has booted, "
            "run 'vpclab up' again (nothing is trusted on first use)",
        )
        addresses = tuple(
            a for a in (instance.get("PrivateIpAddress"), instance.get("PublicIpAddress")) if a
        )
        for address in addresses:
            pin_host_keys(known_hosts, address, keys, comment=instance_id)
        pinned.append(Pinned(role, instance_id, addresses, tuple(keys)))
        say(f"pinned the {role} server's host keys from its console output")
    return pinned
