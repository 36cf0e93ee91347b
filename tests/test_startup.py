"""What a process loads before it does its work: each graded lab starts two grading processes
(`vpclab grade`'s own and the runner) and a kernel per notebook, and a lab's steps run many CLI
calls, so a module that takes a second to import costs a second each time. Measured in
benchmarks/bench_grade.py; this holds the imports that once cost the most."""

from __future__ import annotations

import subprocess
import sys

import pytest

# moto (about 1 s: it reads botocore's region data at import) belongs in the moto server's
# process only; rfc3987-syntax (about 1 s: it builds its IRI parsers at import) comes with
# jsonschema's format-nongpl extra and scripts/bootstrap.sh removes it; grafanalib (0.1 s) is
# for building a dashboard.
HEAVY = ("moto", "rfc3987_syntax", "lark", "grafanalib")
# The grader's two processes, what a notebook imports first, the CLI, and what the grader
# reads notebooks with.
MODULES = ["vpclab.course.runner", "vpclab.course.grade", "vpclab.course.kit", "vpclab.cli"]


@pytest.mark.parametrize("module", [*MODULES, "nbformat"])
def test_a_process_loads_neither_moto_nor_an_iri_parser_nor_grafanalib(module):
    probe = (
        f"import sys, {module}\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert out.strip() == "[]", f"importing {module} loads {out.strip()}"
