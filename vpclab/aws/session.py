"""boto3 clients for a target, with every API call counted (botocore event hooks).

Target `aws` uses the standard credential chain. Target `local` talks to the endpoint it is
given: the caller (`Lab`) decides which, so this package knows nothing of the local cloud.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import boto3
from botocore.config import Config

from vpclab.errors import VpclabError

READ_PREFIXES = ("Describe", "Get", "List")
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


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
            self._clients[service] = client
        return self._clients[service]

    def _record(self, params, model, **_: object) -> None:
        self.log.record(model, params)

    @property
    def ec2(self):
        return self.client("ec2")


def connect(target: str, region: str, endpoint: str | None = None) -> Cloud:
    """A control plane for `target`: `local` needs the endpoint of its moto server."""
    if target == "local":
        if not endpoint:
            raise VpclabError(
                "the local target needs a control-plane endpoint", "run 'vpclab local start'"
            )
        session = boto3.Session(region_name=region, **LOCAL_CREDENTIALS)
        return Cloud(target, region, endpoint, session)
    if target == "aws":
        session = boto3.Session(region_name=region)
        if session.get_credentials() is None:
            raise VpclabError(
                "no AWS credentials found for target 'aws'",
                "run aws configure (or set AWS_PROFILE), or use --target local",
            )
        # A stand-in for AWS (moto, LocalStack) named the standard way: botocore would use it
        # anyway; knowing it lets the kit say so and connect to none of its addresses.
        return Cloud(target, region, os.environ.get("AWS_ENDPOINT_URL") or None, session)
    raise VpclabError(f"unknown target {target!r}", "use --target local or --target aws")
