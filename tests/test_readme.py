"""The README stays short and true: its commands exist, its counts are the code's, and every
link in it and in docs/ leads to a file. When a count changes, the failure names the new one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer

from vpclab.cli import app
from vpclab.monitoring.grafana import LOCAL_SKIPS
from vpclab.spec import STEPS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_LINES = 160


def readme() -> str:
    return README.read_text()


def code_spans(text: str) -> list[str]:
    """Every command-like text: lines of fenced blocks (without their # comments) and inline
    `code` spans."""
    spans = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        spans += [line.split("  #", 1)[0] for line in block.splitlines()]
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    return spans + re.findall(r"`([^`\n]+)`", prose)


def make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, flags=re.M))


def cli_command(words: list[str]) -> tuple[Any, list[str]]:
    """The click command a `vpclab` invocation names, and the words after it."""
    command = typer.main.get_command(app)
    rest = list(words)
    # typer may ship its own click: ask for a group's behaviour, not its class
    while hasattr(command, "get_command") and rest and not rest[0].startswith("-"):
        sub = command.get_command(command.context_class(command), rest[0])
        assert sub is not None, f"README names 'vpclab {' '.join(words)}': no such command"
        command, rest = sub, rest[1:]
    return command, rest


def check_counts() -> tuple[int, int]:
    """All checks in the checklist, and those that SKIP by design on the local target."""
    from vpclab.checks import registered

    return len(registered()), len(LOCAL_SKIPS)


def test_readme_is_short() -> None:
    lines = len(readme().splitlines())
    assert lines <= MAX_LINES, f"README.md has {lines} lines (at most {MAX_LINES}): move to docs/"


def test_make_targets_named_exist() -> None:
    named = {m for span in code_spans(readme()) for m in re.findall(r"\bmake ([a-z-]+)", span)}
    assert {"lab", "test"} <= named, "the README's two commands are `make lab` and `make test`"
    assert named <= make_targets(), f"not Makefile targets: {sorted(named - make_targets())}"


def test_vpclab_commands_and_options_exist() -> None:
    seen = 0
    for span in code_spans(readme()):
        for found in re.finditer(r"\bvpclab ([a-z][^;|&]*)", span):
            words = []
            for word in found.group(1).split():
                if word.startswith("…"):
                    break
                words.append(word.strip("'\""))
                if word != words[-1]:  # a closing quote ends a quoted command
                    break
            command, rest = cli_command(words)
            options = {o for p in command.params for o in p.opts}
            for word in rest:
                flag = word.split("=", 1)[0]
                if flag.startswith("--"):
                    assert flag in options, f"README: 'vpclab {found.group(1)}': no {flag}"
            seen += 1
    assert seen >= 8, "the README should show the CLI's everyday commands"


def test_counts_match_the_code() -> None:
    text = readme()
    total, local_skips = check_counts()
    notebooks = len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
    quoted = re.search(r"\*\*(\d+) checks over (\d+) steps\*\*", text)
    assert quoted, "the README says how many checks over how many steps"
    assert (int(quoted[1]), int(quoted[2])) == (total, len(STEPS)), (
        f"README: write '**{total} checks over {len(STEPS)} steps**'"
    )
    summary = f"{total - local_skips} passed, 0 failed, {local_skips} skipped"
    assert summary in text, f"README's checklist summary should read '{summary}'"
    quoted_notebooks = re.search(r"\*\*(\d+) notebooks\*\*", text)
    assert quoted_notebooks and int(quoted_notebooks[1]) == notebooks, (
        f"README: write '**{notebooks} notebooks**'"
    )


def test_steps_table_lists_every_step() -> None:
    rows = re.findall(r"^\| `([a-z]+)` \|", readme(), flags=re.M)
    assert rows == list(STEPS), f"README's step table should list {', '.join(STEPS)} in order"


@pytest.mark.parametrize(
    "page", [README, *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name
)
def test_links_resolve(page: Path) -> None:
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    missing = [link for link in local if not (page.parent / link).exists()]
    assert not missing, f"{page.name} links to missing files: {missing}"


def test_readme_links_every_docs_page() -> None:
    linked = set(re.findall(r"\(docs/([\w.-]+\.md)\)", readme()))
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert pages <= linked, f"README does not link docs/{sorted(pages - linked)}"
