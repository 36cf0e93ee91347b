"""Checks that each host's user data finished: it records `ok`, or the line it failed at, in
/etc/vpclab/user-data (see render/templates/user-data.sh.j2). Read over the pinned SSH paths,
so they run on both targets (local hosts run their user data at boot too)."""

from __future__ import annotations

from collections.abc import Callable

from vpclab import remote
from vpclab.checks import Facts, Outcome, check, fail, ok, skip
from vpclab.checks.hosts import on_hosts
from vpclab.facts.user_data import USER_DATA_RESULT
from vpclab.hosts import known_hosts_path

HINT = (
    "read the user data's output on the host (AWS: /var/log/cloud-init-output.log; locally "
    "the host's console.log, see 'vpclab local status'), fix the cause, then replace the "
    "instance: user data runs only at its first boot"
)


def recorded(facts: Facts, role: str) -> str:
    """What the role's user data recorded ('ok', 'failed: line N'), or why there is nothing."""
    text = remote.read_file(remote.shared(facts, role), USER_DATA_RESULT)
    if text is None:
        return f"nothing in {USER_DATA_RESULT} (still running, or it never ran)"
    return text.strip() or f"{USER_DATA_RESULT} is empty"


def _user_data(roles: tuple[str, ...]) -> Callable[[Facts], Outcome]:
    @on_hosts
    def run(facts: Facts) -> Outcome:
        present = [r for r in roles if r in facts.state.instances]
        if not present:
            return skip(f"no {' or '.join(roles)} server yet")
        if not known_hosts_path(facts.spec.name, facts.spec_path).exists():
            # Read after step 03 on live hosts: no host can be trusted over SSH before 04.
            return skip("the hosts' keys are not pinned yet (the instances step pins them)")
        seen = {role: recorded(facts, role) for role in present}
        bad = [f"{role}: {line}" for role, line in seen.items() if line != "ok"]
        if bad:
            return fail("; ".join(bad))
        return ok(f"{USER_DATA_RESULT} says ok on {', '.join(present)}")

    return run


check(
    "jenkins.user_data",
    "Jenkins' user data ran to the end",
    HINT,
)(_user_data(("jenkins",)))

check(
    "instances.user_data",
    "The user data of web, app and monitoring ran to the end",
    HINT,
)(_user_data(("web", "app", "monitoring")))
