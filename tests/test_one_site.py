"""One Site, chosen once (issue 16): no module compares the target except the Site
implementations (`vpclab/site/`) and the CLI's option parsing (`vpclab/cli*.py`).

The scan reads vpclab/'s syntax trees and reports, with file and line:
- a comparison (==, !=, is, in, ...) with the target's names: "local" or "aws" (also in a
  tuple, list or set), `Target.local` or `Target.aws`;
- a `match` on the target's names;
- a call or definition of `is_local`/`is_aws`, and `isinstance(..., <a Site class>)`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "vpclab"
NAMES = {"local", "aws"}
HELPERS = {"is_local", "is_aws", "on_aws", "on_local"}


def allowed(path: Path) -> bool:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] == "site" or (
        len(relative.parts) == 1 and relative.name.startswith("cli")
    )


def _names_target(node: ast.expr) -> bool:
    """`Target.local`/`Target.aws`, or the strings "local"/"aws" (also inside a tuple, list
    or set)."""
    if isinstance(node, ast.Attribute):
        return isinstance(node.value, ast.Name) and node.value.id == "Target" and node.attr in NAMES
    if isinstance(node, ast.Constant):
        return node.value in NAMES
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_names_target(item) for item in node.elts)
    return False


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def comparisons(source: str) -> list[tuple[int, str]]:
    """(line, what) for each target comparison in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            if any(_names_target(side) for side in (node.left, *node.comparators)):
                found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.Match):
            cases = [c.pattern for c in node.cases]
            values = [p.value for p in cases if isinstance(p, ast.MatchValue)]
            if any(_names_target(v) for v in values):
                found.append((node.lineno, f"match {ast.unparse(node.subject)}"))
        elif isinstance(node, ast.Call):
            name = _call_name(node)
            if name in HELPERS:
                found.append((node.lineno, ast.unparse(node)))
            elif name == "isinstance" and len(node.args) == 2:
                if "Site" in ast.unparse(node.args[1]):
                    found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.FunctionDef) and node.name in HELPERS:
            found.append((node.lineno, f"def {node.name}"))
    return found


def scan(package: Path = PACKAGE) -> list[str]:
    hits = []
    for path in sorted(package.rglob("*.py")):
        if allowed(path):
            continue
        for line, what in comparisons(path.read_text()):
            hits.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    return hits


def test_no_target_comparison_outside_the_site():
    hits = scan()
    assert not hits, (
        f"{len(hits)} target comparisons outside vpclab/site/ and the CLI (move each into "
        "the Site, with its reason in vpclab/site/differences.py):\n" + "\n".join(hits)
    )


@pytest.mark.parametrize(
    "source",
    [
        'if cloud.target == "local": pass',
        "x = 1 if self.target is Target.aws else 2",
        'ok = target in ("local", "aws")',
        'ok = kind != "aws"',
        "if remote.is_local(reach): pass",
        "def is_local(reach): return True",
        "ok = isinstance(site, LocalSite)",
        'match target:\n    case "aws": pass',
    ],
)
def test_the_scan_finds_each_form(source: str):
    assert comparisons(source), source


@pytest.mark.parametrize(
    "source",
    [
        "if ctx.site.runs_jenkins: pass",
        'name = "local image"',
        "if lab.site.dataplane_off(): pass",
        'status = {"target": str(self.target)}',
        "done = current.applied >= target",
    ],
)
def test_the_scan_passes_what_is_not_a_comparison(source: str):
    assert not comparisons(source), source


def test_the_allowed_places_are_the_site_and_the_cli():
    assert allowed(PACKAGE / "site" / "local.py")
    assert allowed(PACKAGE / "cli.py")
    assert not allowed(PACKAGE / "lab.py")
    assert not allowed(PACKAGE / "steps" / "cli_helpers.py")


# --- the Site and its list of differences -----------------------------------------------------


def site_members() -> set[str]:
    from vpclab.site import Site

    return set(Site.__abstractmethods__) | (set(Site.__annotations__) - {"name"})


def test_each_member_of_the_site_has_one_difference_with_its_reason():
    from vpclab.site.differences import DIFFERENCES

    rows = [d.member for d in DIFFERENCES]
    assert len(rows) == len(set(rows)), "a member is listed twice"
    assert set(rows) == site_members()
    for row in DIFFERENCES:
        assert row.local and row.aws and len(row.reason) > 20, row.member


def test_both_sites_implement_every_member():
    from vpclab.site import site_for

    for name in ("local", "aws"):
        site = site_for(name)
        assert site.name == name
        missing = [m for m in site_members() if not hasattr(site, m)]
        assert not missing, f"{name} lacks {missing}"
    assert site_for("local").probe_backend != site_for("aws").probe_backend


def test_an_unknown_target_is_one_line_naming_the_fix():
    from vpclab.errors import VpclabError
    from vpclab.site import site_for

    with pytest.raises(VpclabError, match="unknown target 'gcp'") as caught:
        site_for("gcp")
    assert "--target local" in caught.value.fix


def test_lab_chooses_the_site_once_and_its_cloud_carries_it(monkeypatch):
    from vpclab.aws.session import Cloud
    from vpclab.lab import Lab
    from vpclab.site import site_for

    monkeypatch.delenv("VPCLAB_TARGET", raising=False)
    assert Lab(ROOT / "lab.toml", target="aws").site is site_for("aws")
    lab = Lab(ROOT / "lab.toml", target="local", say=lambda _line: None)
    assert lab.site is site_for("local")
    cloud = Cloud("local", "us-east-1", "http://127.0.0.1:9", None)
    monkeypatch.setattr("vpclab.lab.connect", lambda site, *_a: cloud)
    assert lab.context().site is lab.site
