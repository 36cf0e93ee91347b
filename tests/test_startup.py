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


@pytest.mark.parametrize("module", ["vpclab.lab", *MODULES])
def test_paramiko_is_loaded_when_a_host_is_opened_not_before(module):
    # paramiko and the invoke it loads: a tenth of `import vpclab.lab`, for every kernel of
    # steps 00 to 04 and every CLI call that opens no host.
    probe = f"import sys, {module}\nprint(sorted({{'paramiko', 'invoke'}} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert out.strip() == "[]", f"importing {module} loads {out.strip()}"


def test_a_second_session_reads_no_botocore_file_again(monkeypatch):
    # Each Cloud has its own session; parsing botocore's JSON again for each was about
    # 0.2 CPU-s a Cloud, the largest part of a control-plane test's own CPU.
    import botocore.loaders

    from vpclab.aws.session import LOCAL_CREDENTIALS, new_session

    first = new_session("us-east-1", **LOCAL_CREDENTIALS)
    first.client("ec2", endpoint_url="http://127.0.0.1:9")
    reads: list[str] = []
    load_file = botocore.loaders.JSONFileLoader.load_file
    monkeypatch.setattr(
        botocore.loaders.JSONFileLoader,
        "load_file",
        lambda self, path: reads.append(path) or load_file(self, path),
    )
    second = new_session("us-west-2", **LOCAL_CREDENTIALS)
    assert second.client("ec2", endpoint_url="http://127.0.0.1:9").meta.region_name == "us-west-2"
    assert reads == []
    paths = second._loader.search_paths
    assert len(paths) == len(set(paths))  # boto3 adds its own path once, not once a session
