"""The checklist's unit: one check result, the same in every view."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


class Status(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True)
class CheckResult:
    id: str  # stable, "<step>.<name>"
    step: str
    title: str
    status: Status
    detail: str = ""  # what was seen
    hint: str = ""  # on FAIL, what to do

    def as_dict(self) -> dict:
        data = asdict(self)
        data["status"] = str(self.status)
        return data


def failed(results: list[CheckResult]) -> list[CheckResult]:
    return [r for r in results if r.status is Status.FAIL]
