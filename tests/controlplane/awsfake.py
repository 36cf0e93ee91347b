"""What AWS does and moto does not, injected with botocore event hooks on a lab's own EC2
client: errors before a call reaches moto, and answers rewritten on the way back."""

from __future__ import annotations

from collections.abc import Callable

from botocore.awsrequest import AWSResponse


class Inject:
    def __init__(self, cloud) -> None:
        self.ec2 = cloud.ec2
        self.seen: list[tuple[str, str]] = []  # (operation, what the hook did)

    def fail(
        self,
        op: str,
        code: str,
        times: int = 1,
        when: Callable[[dict], bool] = lambda _params: True,
    ) -> None:
        """The next `times` calls of `op` (whose params pass `when`) fail with `code`;
        times=-1 fails them all."""
        left = [times]

        def handler(params: dict, **_: object):
            if left[0] == 0 or not when(params.get("body", params)):
                return None
            left[0] -= 1
            self.seen.append((op, code))
            http = AWSResponse(url="https://ec2.invalid/", status_code=400, headers={}, raw=None)
            return http, {"Error": {"Code": code, "Message": f"injected {code}"}}

        self.ec2.meta.events.register(f"before-call.ec2.{op}", handler)

    def rewrite(self, op: str, change: Callable[[dict], bool], times: int = -1) -> None:
        """Pass each answer of `op` through `change`, which edits it in place and says
        whether it changed anything; only the first `times` changes count (-1: all)."""
        left = [times]

        def handler(parsed: dict, **_: object) -> None:
            if left[0] != 0 and "Error" not in parsed and change(parsed):
                left[0] -= 1
                self.seen.append((op, "rewritten"))

        self.ec2.meta.events.register(f"after-call.ec2.{op}", handler)

    def intercept(self, op: str, answer: Callable[[dict], dict | None]) -> None:
        """Answer `op` without moto when `answer(params)` returns a response."""

        def handler(params: dict, **_: object):
            parsed = answer(params)
            if parsed is None:
                return None
            http = AWSResponse(url="https://ec2.invalid/", status_code=200, headers={}, raw=None)
            return http, parsed

        self.ec2.meta.events.register(f"before-call.ec2.{op}", handler)


def by_tag(params: dict) -> bool:
    """Is this request a search by the lab's tag (how the lab reads its state)?"""
    return "tag:vpclab:lab" in params.get("body", {}).values()


def instances_of(parsed: dict) -> list[dict]:
    return [i for r in parsed.get("Reservations", []) for i in r["Instances"]]


def ops(lab) -> list[str]:
    return [op for _, op, _ in lab.cloud.log.calls]
