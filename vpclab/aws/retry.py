"""Waits and retries as AWS needs them, bounded, with their clock and sleep injectable.

AWS is eventually consistent and keeps dependencies alive for a while after a delete (an
instance's interface, a NAT's address mapping). moto does neither, so every wait here takes
a `Pacing`: production uses real time; tests pass a fake clock whose sleep only advances it,
so no test waits for real time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from botocore.exceptions import ClientError
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception,
    retry_if_result,
    wait_exponential,
)

from vpclab.errors import VpclabError

T = TypeVar("T")

# Left behind for minutes after a terminate or a delete; Terraform retries these ~5 minutes.
LINGERING = ("DependencyViolation", "InvalidIPAddress.InUse")


def error_code(exc: BaseException) -> str:
    return exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""


def not_found(exc: BaseException) -> bool:
    """Right after a create, another call may not see the new resource yet."""
    code = error_code(exc)
    return code.endswith(".NotFound") or code.endswith(".Malformed.NotFound")


def lingering(exc: BaseException) -> bool:
    return error_code(exc) in LINGERING


@dataclass
class FakeClock:
    """A clock for tests: sleeping advances it at once."""

    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass(frozen=True)
class Pacing:
    """How long to wait for what. Budgets are seconds of `clock`."""

    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    first_delay: float = 2.0
    max_delay: float = 20.0
    settle_budget: float = 60.0  # NotFound right after a create
    dependency_budget: float = 300.0  # DependencyViolation, InvalidIPAddress.InUse
    state_budget: float = 900.0  # instances terminated, NAT deleted, peering active

    @classmethod
    def fake(cls, clock: FakeClock | None = None) -> Pacing:
        clock = clock or FakeClock()
        return cls(sleep=clock.sleep, clock=clock)


def _retrying(pacing: Pacing, budget: float, say: Callable[[str], None], what: str, **kw):
    start = pacing.clock()

    def out_of_time(_state: RetryCallState) -> bool:
        return pacing.clock() - start >= budget

    def progress(state: RetryCallState) -> None:
        outcome = state.outcome
        why = error_code(outcome.exception()) if outcome and outcome.failed else "not yet"
        waited = pacing.clock() - start
        say(f"  waiting for {what} ({why}; {waited:.0f}s of at most {budget:.0f}s)")

    return Retrying(
        stop=out_of_time,
        wait=wait_exponential(multiplier=pacing.first_delay, max=pacing.max_delay),
        sleep=pacing.sleep,
        before_sleep=progress,
        reraise=True,
        **kw,
    )


def call(
    fn: Callable[[], T],
    *,
    when: Callable[[BaseException], bool],
    what: str,
    budget: float,
    pacing: Pacing,
    say: Callable[[str], None] = lambda _line: None,
) -> T:
    """Call `fn`, retrying the errors `when` accepts with backoff for up to `budget` seconds;
    then the last error is raised."""
    retrying = _retrying(pacing, budget, say, what, retry=retry_if_exception(when))
    return retrying(fn)


def poll(
    read: Callable[[], T],
    done: Callable[[T], bool],
    *,
    what: str,
    budget: float,
    pacing: Pacing,
    say: Callable[[str], None] = lambda _line: None,
    hint: str = "run the same command again later",
) -> T:
    """Read until `done` says so, for up to `budget` seconds; then a VpclabError naming
    `what`. A NotFound error or a None read (an empty answer) counts as not yet: right after
    a create, AWS may not show the new resource."""

    def attempt() -> tuple[bool, T | None]:
        try:
            value = read()
        except ClientError as exc:
            if not_found(exc):
                return False, None
            raise
        return value is not None and done(value), value

    retrying = _retrying(pacing, budget, say, what, retry=retry_if_result(lambda r: not r[0]))
    try:
        _, value = retrying(attempt)
    except RetryError:
        raise VpclabError(f"gave up waiting for {what} after {budget:.0f}s", hint) from None
    return value  # type: ignore[return-value]
