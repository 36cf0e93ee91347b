"""boto3 clients for a target, with every API call counted (botocore event hooks).

While a library step applies (`marking`), each request the library's clients send carries
a user-agent mark naming the step, `vpclab-step/<step>` (the grader's own repairs:
`vpclab-grader/<step>`). A grader's control plane logs the marked requests out of the
student's reach, so a step the library built is known whatever the route (`Lab.up`,
`catch_up`, a step's `apply`, `vpclab up` from a `!` cell).

Which of `chain_cloud` (the standard credential chain) and `endpoint_cloud` (a given endpoint)
a target uses is its Site's choice (`vpclab.site`), so this package knows nothing of the
local cloud.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

from vpclab.errors import VpclabError

if TYPE_CHECKING:
    from vpclab.site import Site

READ_PREFIXES = ("Describe", "Get", "List")
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


STEP_MARK = "vpclab-step"
GRADER_MARK = "vpclab-grader"
_MARK = re.compile(rf"\b({STEP_MARK}|{GRADER_MARK})/([a-z_]+)\b")
# A process-wide stack, not a ContextVar: a step's worker threads must carry its mark too.
_marks: list[str] = []
_actor: list[str] = [STEP_MARK]


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


@contextlib.contextmanager
def marking(step: str) -> Iterator[None]:
    """Mark every request the library's clients send inside as made by `step`'s apply."""
    _marks.append(f"{_actor[-1]}/{step}")
    try:
        yield
    finally:
        _marks.pop()


@contextlib.contextmanager
def as_grader() -> Iterator[None]:
    """The steps applied inside are the grader's repairs, never charged to the student."""
    _actor.append(GRADER_MARK)
    try:
        yield
    finally:
        _actor.pop()


def current_mark() -> str | None:
    return _marks[-1] if _marks else None


def read_mark(user_agent: str) -> tuple[str, str] | None:
    """(who, step) from a request's user agent: who is `vpclab-step` or `vpclab-grader`."""
    found = _MARK.search(user_agent)
    return (found.group(1), found.group(2)) if found else None


@dataclass
class CallLog:
    """Every API operation sent, in order: used to count mutations and assert teardown order."""

    calls: list[tuple[str, str, dict]] = field(default_factory=list)  # (service, op, params)

    def record(self, model, params, **_: object) -> None:
        self.calls.append((model.service_model.service_name, model.name, params))

    @property
    def mutating(self) -> list[str]:
        return [op for _, op, _ in self.calls if is_mutating(op)]

    def clear(self) -> None:
        self.calls.clear()


@dataclass
class Cloud:
    """The control plane of one target: a boto3 session plus the endpoint it talks to."""

    target: str
    region: str
    endpoint: str | None
    session: boto3.Session
    log: CallLog = field(default_factory=CallLog)
    _clients: dict = field(default_factory=dict)

    def client(self, service: str):
        if service not in self._clients:
            client = self.session.client(
                service,
                endpoint_url=self.endpoint,
                config=Config(retries={"max_attempts": 3, "mode": "standard"}),
            )
            client.meta.events.register("provide-client-params.*.*", self._record)
            client.meta.events.register("request-created.*.*", _add_mark)
            self._clients[service] = client
        return self._clients[service]

    @property
    def site(self) -> Site:
        """The target's Site (`vpclab.site`): what this target does its own way."""
        from vpclab.site import site_for

        return site_for(self.target)

    def _record(self, params, model, **_: object) -> None:
        self.log.record(model, params)

    @property
    def ec2(self):
        return self.client("ec2")


def _add_mark(request, **_: object) -> None:
    mark = current_mark()
    if mark:
        agent = request.headers.get("User-Agent", "")
        if isinstance(agent, bytes):
            agent = agent.decode()
        request.headers["User-Agent"] = f"{agent} {mark}".strip()


@functools.cache
def _data_loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader()


def new_session(region: str, **credentials: str) -> boto3.Session:
    """A boto3 session whose botocore data (endpoints, service models) is read once per
    process: a fresh session parses those files again, about 0.2 CPU-s for a Cloud's clients."""
    core = botocore.session.Session()
    loader = _data_loader()
    core.register_component("data_loader", loader)
    session = boto3.Session(region_name=region, botocore_session=core, **credentials)
    loader.search_paths[:] = dict.fromkeys(loader.search_paths)  # boto3 adds its path each time
    return session


def endpoint_cloud(target: str, region: str, endpoint: str | None) -> Cloud:
    """A control plane at `endpoint` (the local moto server), with its static credentials."""
    if not endpoint:
        raise VpclabError(
            f"the {target} target needs a control-plane endpoint", "run 'vpclab local start'"
        )
    return Cloud(target, region, endpoint, new_session(region, **LOCAL_CREDENTIALS))


def chain_cloud(target: str, region: str) -> Cloud:
    """A control plane reached with the standard credential chain (AWS, or a stand-in that
    AWS_ENDPOINT_URL names)."""
    session = new_session(region)
    if session.get_credentials() is None:
        raise VpclabError(
            f"no AWS credentials found for target {target!r}",
            "run aws configure (or set AWS_PROFILE), or use --target local",
        )
    # A stand-in for AWS (moto, LocalStack) named the standard way: botocore would use it
    # anyway; knowing it lets the kit say so and connect to none of its addresses.
    return Cloud(target, region, os.environ.get("AWS_ENDPOINT_URL") or None, session)
