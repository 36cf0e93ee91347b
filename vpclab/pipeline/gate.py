"""What a local build may ask the control plane: what the Jenkins instance profile allows on
the aws target (`jenkins_setup.EC2_READ`, the same list), and STS's GetCallerIdentity,
which AWS answers for any principal. Nothing else: no change, and never moto's own
`/moto-api/*` (reset, recorder), which has no AWS counterpart.

The Verify stage on the Jenkins host reaches the control plane through a reverse SSH
forward; the forward ends here, not at moto."""

from __future__ import annotations

import re

from vpclab.aws.jenkins_setup import EC2_READ
from vpclab.localcloud.moto_main import action_of
from vpclab.localcloud.passthrough import Answer, Passthrough, Request

ALLOWED = frozenset([*EC2_READ, "sts:GetCallerIdentity"])
_SERVICE = re.compile(r"Credential=[^/]+/\d+/[a-z0-9-]+/([a-z0-9-]+)/")


def permission(request: Request) -> str:
    """The IAM action a request asks for, e.g. `ec2:RunInstances`."""
    found = _SERVICE.search(request.headers.get("Authorization", ""))
    service = found.group(1) if found else "unknown"
    return f"{service}:{action_of(request.headers, request.method, request.body, request.path)}"


def screen(request: Request) -> Answer | None:
    """None to pass the request on; else the refusal AWS would give the Jenkins role."""
    if request.path.startswith("/moto-api"):
        return _refusal("AccessDenied", "the control plane's own API is not for builds")
    wanted = permission(request)
    if wanted in ALLOWED:
        return None
    code = "UnauthorizedOperation" if wanted.startswith("ec2:") else "AccessDenied"
    return _refusal(
        code,
        f"You are not authorized to perform this operation: the Jenkins role may not {wanted}",
    )


def _refusal(code: str, message: str) -> Answer:
    body = (
        f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        "</Errors><RequestID>local</RequestID></Response>"
    )
    return Answer(403, body.encode())


def open_gate(upstream: str) -> Passthrough:
    """The build's gate in front of the control plane at `upstream`, started."""
    return Passthrough(upstream, screen).start()
