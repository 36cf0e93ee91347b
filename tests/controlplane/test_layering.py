"""Layering: the boto3 layer knows nothing of the local cloud (`Lab` resolves the endpoint),
and checks read facts, never the steps that wrote them."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_aws_package_does_not_import_the_local_cloud():
    files = sorted((ROOT / "vpclab" / "aws").glob("*.py"))
    assert files
    for path in files:
        local = [n for n in imported(path) if n.startswith("vpclab.localcloud")]
        assert not local, f"{path.name} imports {local}"


def importing(path: Path, package: str) -> list[str]:
    """The modules `path` imports, at any depth (inside functions too), that are `package` or
    under it; `from vpclab import steps` counts."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found += [
            f"line {node.lineno}: {n}" for n in names if n == package or n.startswith(package + ".")
        ]
    return found


def test_checks_do_not_import_steps():
    files = sorted((ROOT / "vpclab" / "checks").rglob("*.py"))
    assert len(files) > 10
    for path in files:
        steps = importing(path, "vpclab.steps")
        assert not steps, f"{path.name} imports a step ({steps}): move the fact to vpclab/facts/"


def test_the_scan_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "check.py"
    source.write_text(
        "def run():\n    from vpclab.steps.pipeline import served_commit\n"
        "    from vpclab import steps\n"
    )
    assert importing(source, "vpclab.steps") == [
        "line 2: vpclab.steps.pipeline",
        "line 2: vpclab.steps.pipeline.served_commit",
        "line 3: vpclab.steps",
    ]
