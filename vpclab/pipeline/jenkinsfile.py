"""The declarative Jenkinsfile subset the local runner executes, as typed objects.

Supported: `pipeline { agent; environment; stages; post }`; in a stage `when { branch P }` or
`when { environment name: N, value: V }`, `environment`, `steps` and `post`; post conditions
always, success, unstable and failure; the steps sh, echo, junit and archiveArtifacts.
Anything else is a JenkinsfileError naming the construct and its line: a directive when the
file is read, a step when its stage is about to run (so a stage that only real Jenkins runs,
behind a `when`, may use plugin steps)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpclab import blanks
from vpclab.pipeline.groovy import Args, Call, GString, JenkinsfileError, Node, parse

STEPS = ("sh", "echo", "junit", "archiveArtifacts")
POST_CONDITIONS = ("always", "success", "unstable", "failure")


@dataclass(frozen=True)
class Step:
    name: str
    args: Args
    line: int

    def check_supported(self) -> None:
        if self.name not in STEPS:
            raise JenkinsfileError(
                self.line,
                f"step '{self.name}' is not supported by the local runner",
                f"the local runner runs the steps {', '.join(STEPS)}; "
                "put the work in a scripts/ci/ script and call it with sh",
            )

    def arg(self, name: str, default: Any = None) -> Any:
        """A named argument, or the first positional one for the step's main argument."""
        if name in self.args.named:
            return self.args.named[name]
        main = {"sh": "script", "echo": "message", "junit": "testResults"}
        main["archiveArtifacts"] = "artifacts"
        if main.get(self.name) == name and self.args.positional:
            return self.args.positional[0]
        return default


@dataclass(frozen=True)
class Condition:
    kind: str  # branch | environment
    pattern: str
    name: str = ""
    line: int = 0

    def holds(self, branch: str, env: Mapping[str, str]) -> bool:
        if self.kind == "branch":
            return fnmatch.fnmatchcase(branch, self.pattern)
        return env.get(self.name, "") == self.pattern

    def describe(self) -> str:
        if self.kind == "branch":
            return f"branch {self.pattern!r}"
        return f"environment {self.name} == {self.pattern!r}"


@dataclass(frozen=True)
class Stage:
    name: str
    line: int
    steps: list[Step]
    when: list[Condition] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    post: dict[str, list[Step]] = field(default_factory=dict)


@dataclass(frozen=True)
class Pipeline:
    stages: list[Stage]
    environment: dict[str, Any] = field(default_factory=dict)
    post: dict[str, list[Step]] = field(default_factory=dict)
    agent: str = "any"


def _unsupported(node: Node, where: str) -> JenkinsfileError:
    return JenkinsfileError(
        node.line, f"'{node.name}' is not supported {where} by the local runner"
    )


def _block(node: Node) -> list[Node]:
    if node.body is None:
        raise JenkinsfileError(node.line, f"'{node.name}' needs a {{ ... }} block")
    return node.body


def _string(value: Any, node: Node, what: str) -> str:
    if isinstance(value, GString):
        return value.text
    if not isinstance(value, str):
        raise JenkinsfileError(node.line, f"{what} must be a string")
    return value


def _environment(node: Node) -> dict[str, Any]:
    env = {}
    for item in _block(node):
        if item.assign is None:
            raise _unsupported(item, "in environment")
        if isinstance(item.assign, Call):
            raise JenkinsfileError(
                item.line,
                f"'{item.assign.name}(...)' in environment is not supported by the local runner",
                "give the value as a string",
            )
        env[item.name] = item.assign
    return env


def _steps(node: Node) -> list[Step]:
    return [Step(s.name, s.args, s.line) for s in _block(node)]


def _post(node: Node) -> dict[str, list[Step]]:
    post = {}
    for item in _block(node):
        if item.name not in POST_CONDITIONS:
            raise _unsupported(item, "in post")
        post[item.name] = _steps(item)
    return post


def _when(node: Node) -> list[Condition]:
    conditions = []
    for item in _block(node):
        if item.name == "branch":
            pattern = item.args.named.get("pattern", item.args.first())
            conditions.append(Condition("branch", _string(pattern, item, "branch"), "", item.line))
        elif item.name == "environment":
            name = _string(item.args.named.get("name"), item, "environment name")
            value = _string(item.args.named.get("value"), item, "environment value")
            conditions.append(Condition("environment", value, name, item.line))
        else:
            raise _unsupported(item, "in when")
    return conditions


def _stage(node: Node) -> Stage:
    name = node.args.first()
    if not isinstance(name, str):
        raise JenkinsfileError(node.line, "a stage needs a name: stage('Name') { ... }")
    parts: dict[str, Any] = {"steps": None}
    for item in _block(node):
        if item.name == "steps":
            parts["steps"] = _steps(item)
        elif item.name == "when":
            parts["when"] = _when(item)
        elif item.name == "environment":
            parts["environment"] = _environment(item)
        elif item.name == "post":
            parts["post"] = _post(item)
        else:
            raise _unsupported(item, "in a stage")
    if parts["steps"] is None:
        raise JenkinsfileError(node.line, f"stage {name!r} has no steps block")
    return Stage(name, node.line, **parts)


def read(text: str) -> Pipeline:
    """The pipeline of a Jenkinsfile's text. Raises JenkinsfileError naming the line (a
    blank left unfilled: VpclabError naming it)."""
    top = parse(blanks.check_filled(text, "Jenkinsfile"))
    if len(top) != 1 or top[0].name != "pipeline":
        line = top[0].line if top else 1
        raise JenkinsfileError(line, "a declarative Jenkinsfile is one pipeline { ... } block")
    parts: dict[str, Any] = {}
    for item in _block(top[0]):
        if item.name == "agent":
            agent = item.args.first()
            parts["agent"] = agent.name if isinstance(agent, Call) else "label"
            if item.body is not None or parts["agent"] not in ("any", "none"):
                raise JenkinsfileError(
                    item.line, "only 'agent any' is supported by the local runner"
                )
        elif item.name == "environment":
            parts["environment"] = _environment(item)
        elif item.name == "stages":
            stages = []
            for stage in _block(item):
                if stage.name != "stage":
                    raise _unsupported(stage, "in stages")
                stages.append(_stage(stage))
            parts["stages"] = stages
        elif item.name == "post":
            parts["post"] = _post(item)
        else:
            raise _unsupported(item, "in pipeline")
    if "stages" not in parts:
        raise JenkinsfileError(top[0].line, "the pipeline has no stages block")
    return Pipeline(**parts)


def load(path: Path) -> Pipeline:
    return read(path.read_text())


_REF = re.compile(r"\$\{(?:env\.)?([A-Za-z_]\w*)\}|\$(?:env\.)?([A-Za-z_]\w*)")


def interpolate(value: Any, env: Mapping[str, str], line: int) -> str:
    """A value as Groovy would give it: a double-quoted string has ${X} and ${env.X} filled."""
    if isinstance(value, GString):

        def fill(match: re.Match) -> str:
            name = match[1] or match[2]
            if name not in env:
                raise JenkinsfileError(line, f"${{{name}}} is not set in the environment")
            return env[name]

        return _REF.sub(fill, value.text)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | int | float):
        return str(value)
    raise JenkinsfileError(line, f"cannot use {value!r} as a string")
