"""The boto3 layer knows nothing of the local cloud: `Lab` resolves the endpoint."""

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
