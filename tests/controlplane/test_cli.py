"""The CLI: bad specs and flags give one line and exit 2 with no API call; output shapes."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from tests.controlplane.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_api(monkeypatch):
    """Fail the test if anything tries to reach a control plane."""

    def refuse(*_a, **_k):
        raise AssertionError("an API client was created")

    monkeypatch.setattr("vpclab.lab.connect", refuse)


def write_spec(tmp_path: Path, **changes) -> Path:
    data = tomllib.loads((ROOT / "lab.toml").read_text())
    data.update(changes)
    lines, nested = [], []
    for key, value in data.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {json.dumps(value)}")
            continue
        for sub, inner in value.items():
            if isinstance(inner, dict):  # e.g. [instances.web]: tables go last
                nested.append(f"[{key}.{sub}]")
                nested += [f"{k} = {json.dumps(v)}" for k, v in inner.items()]
            else:
                lines.append(f"{key}.{sub} = {json.dumps(inner)}")
    lines += nested
    path = tmp_path / "lab.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


BAD_SPECS = {
    "invalid_cidr": ({"cidr": "10.0.0.0/33"}, "cidr"),
    "subnet_outside_vpc": ({"public_subnets": ["10.9.1.0/24"]}, "outside the VPC"),
    "overlapping_subnets": ({"private_subnets": ["10.0.1.128/25"]}, "overlaps"),
    "overlaps_default_vpc": (
        {
            "cidr": "172.31.0.0/16",
            "public_subnets": ["172.31.1.0/24"],
            "private_subnets": ["172.31.2.0/24"],
        },
        "default VPC",
    ),
    "port_out_of_range": ({"ports": {"app": 70000}}, "ports.app"),
    "unknown_step": ({"steps": ["vpc", "natt"]}, "unknown step 'natt'"),
    "empty_region": ({"region": ""}, "region"),
    "unknown_field": ({"cidr_block": "10.0.0.0/16"}, "unknown field 'cidr_block'"),
}


@pytest.mark.parametrize("name", sorted(BAD_SPECS))
@pytest.mark.parametrize("command", ["up", "verify", "down"])
def test_bad_spec_is_one_line_exit_2_no_api_call(
    tmp_path, monkeypatch, capsys, no_api, name, command
):
    changes, expected = BAD_SPECS[name]
    spec = write_spec(tmp_path, **changes)
    code, out, err = run_cli(monkeypatch, capsys, command, "--spec", str(spec))
    assert code == 2
    assert expected in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err + out


def test_unknown_step_flag(tmp_path, monkeypatch, capsys, no_api):
    spec = write_spec(tmp_path)
    code, _, err = run_cli(monkeypatch, capsys, "up", "--spec", str(spec), "--through", "nta")
    assert code == 2 and "did you mean 'nat'" in err


def test_an_error_line_prints_brackets_as_written(monkeypatch, capsys):
    # Rich would read "[course]" as markup and drop it, leaving a fix that installs nothing.
    from vpclab.course import cli as course_cli

    monkeypatch.setitem(course_cli.COURSE_MODULES, "assign", ("no_such_module_here",))
    code, _, err = run_cli(monkeypatch, capsys, "assign", "out")
    assert code == 2
    assert "pip install -e '.[course]'" in err, err
    assert "needs no_such_module_here, which is not installed" in err, err


def test_bad_target_flag(tmp_path, monkeypatch, capsys, no_api):
    spec = write_spec(tmp_path)
    code, _, err = run_cli(monkeypatch, capsys, "up", "--spec", str(spec), "--target", "gcp")
    assert code == 2 and "--target" in err


@pytest.mark.parametrize("command", ["up", "verify", "status"])
def test_bad_target_env_is_one_line(tmp_path, monkeypatch, capsys, no_api, command):
    spec = write_spec(tmp_path)
    monkeypatch.setenv("VPCLAB_TARGET", "gcp")
    code, out, err = run_cli(monkeypatch, capsys, command, "--spec", str(spec))
    assert code == 2
    assert err.strip() == "error: VPCLAB_TARGET 'gcp' is not a target — use local or aws"


def test_bad_spec_target_is_one_line(tmp_path, monkeypatch, capsys, no_api):
    spec = write_spec(tmp_path, target="gcp")
    code, _, err = run_cli(monkeypatch, capsys, "verify", "--spec", str(spec))
    assert code == 2 and "field 'target'" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args", [("verify", "--step", "pipeline"), ("up", "--through", "monitoring")], ids=" ".join
)
def test_a_step_not_built_yet_says_so(tmp_path, monkeypatch, capsys, no_api, args):
    from vpclab.steps import BUILT

    # Whatever has landed, the last two steps stand for steps still to come (deleted in this
    # order, so that monkeypatch puts them back in the steps' order).
    for step in ("monitoring", "pipeline"):
        monkeypatch.delitem(BUILT, step, raising=False)
    spec = write_spec(tmp_path)
    code, out, err = run_cli(monkeypatch, capsys, *args, "--spec", str(spec))
    assert code == 2
    assert err.strip() == (
        f"error: step {args[2]!r} is not built yet — the built steps are {', '.join(BUILT)}"
    )
    assert out == ""


@pytest.mark.parametrize(
    "command", ["up", "verify", "status", "down", "ssh", "local down", "local reset"]
)
def test_help_shows_real_flags_and_the_names(monkeypatch, capsys, command):
    code, out, _ = run_cli(monkeypatch, capsys, *command.split(), "--help")
    assert code == 0
    assert "<bool>" not in out
    flags = [line.split()[0] for line in out.splitlines() if line.strip().startswith("--")]
    assert "--help" in flags
    if command in ("up", "verify"):
        assert "--through STEP" in out or "--step STEP" in out
        steps = " ".join(out.split())  # help text wraps
        from vpclab.spec import STEPS
        from vpclab.steps import BUILT

        assert ", ".join(BUILT) in steps
        assert all(step in steps for step in STEPS if step != "teardown")
    if command == "ssh":
        assert all(role in out for role in ("jenkins", "web", "app", "monitoring"))


def test_missing_spec_file(tmp_path, monkeypatch, capsys, no_api):
    code, _, err = run_cli(monkeypatch, capsys, "verify", "--spec", str(tmp_path / "no.toml"))
    assert code == 2 and "not found" in err and "--spec" in err


def test_broken_toml(tmp_path, monkeypatch, capsys, no_api):
    spec = tmp_path / "lab.toml"
    spec.write_text("name = \n")
    code, _, err = run_cli(monkeypatch, capsys, "verify", "--spec", str(spec))
    assert code == 2 and "not valid TOML" in err


def test_unknown_flag_is_a_usage_error(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "up", "--bogus")
    assert code == 2 and "No such option" in err and "Traceback" not in err


def test_no_traceback_from_the_real_command(tmp_path):
    spec = write_spec(tmp_path, cidr="nonsense")
    proc = subprocess.run(
        [sys.executable, "-m", "vpclab.cli", "up", "--spec", str(spec)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_verify_json_and_junit(spec_path, monkeypatch, capsys, tmp_path):
    code, _, _ = run_cli(monkeypatch, capsys, "up", "--spec", str(spec_path))
    assert code == 0
    junit = tmp_path / "verify.xml"
    code, out, _ = run_cli(
        monkeypatch, capsys, "verify", "--spec", str(spec_path), "--json", "--junit", str(junit)
    )
    assert code == 0
    data = json.loads(out)
    assert list(data) == ["lab", "target", "time", "totals", "checks"]
    assert (data["lab"], data["target"]) == ("microblog", "local")
    assert datetime.fromisoformat(data["time"]).tzinfo is not None
    results = data["checks"]
    assert {tuple(sorted(r)) for r in results} == {
        ("detail", "hint", "id", "status", "step", "title")
    }
    counted = Counter(r["status"] for r in results)
    assert data["totals"] == {s: counted[s] for s in ("PASS", "FAIL", "SKIP")}
    assert data["totals"]["PASS"] > 0 and data["totals"]["FAIL"] == 0
    suite = ET.parse(junit).getroot()
    assert int(suite.get("tests")) == len(results) and suite.get("failures") == "0"


def test_up_ends_with_what_to_do_next(spec_path, monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "up", "--spec", str(spec_path))
    assert code == 0
    last = out.strip().splitlines()[-1]
    assert last.startswith("next: ")
    assert "verify" in last and "make jupyter" in last and "down" in last


def test_verify_exits_1_on_fail(spec_path, monkeypatch, capsys):
    run_cli(monkeypatch, capsys, "up", "--spec", str(spec_path), "--through", "vpc")
    code, out, _ = run_cli(
        monkeypatch, capsys, "verify", "--spec", str(spec_path), "--step", "nat", "--json"
    )
    assert code == 1
    data = json.loads(out)
    statuses = {r["id"]: r["status"] for r in data["checks"]}
    assert data["totals"]["FAIL"] == sum(s == "FAIL" for s in statuses.values()) > 0
    assert statuses["nat.igw_attached"] == "FAIL"
    assert set(statuses.values()) <= {"FAIL", "SKIP"}


def test_status_json_shape(spec_path, monkeypatch, capsys):
    run_cli(monkeypatch, capsys, "up", "--spec", str(spec_path))
    code, out, _ = run_cli(monkeypatch, capsys, "status", "--spec", str(spec_path), "--json")
    data = json.loads(out)
    assert code == 0
    assert set(data) >= {
        "lab",
        "lab_id",
        "target",
        "region",
        "vpc_id",
        "public_subnet_ids",
        "private_subnet_ids",
        "natgw_ids",
        "nat_public_ips",
        "peering_id",
        "instances",
        "web_url",
        "dataplane",
    }
    assert data["vpc_id"].startswith("vpc-") and data["peering_id"].startswith("pcx-")
    assert [s[:7] for s in data["public_subnet_ids"] + data["private_subnet_ids"]] == [
        "subnet-"
    ] * 2
    assert len(data["natgw_ids"]) == len(data["nat_public_ips"]) == 1
    assert (
        data["dataplane"]["running"] is False and "VPCLAB_DATAPLANE" in data["dataplane"]["reason"]
    )
    assert set(data["instances"]) == {"jenkins", "web", "app", "monitoring"}
    assert data["instances"]["app"]["public_ip"] is None
    assert set(data["instances"]["web"]) == {"id", "state", "type", "private_ip", "public_ip"}


def test_aws_target_without_credentials_is_one_line(tmp_path, monkeypatch, capsys):
    spec = write_spec(tmp_path)
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    # No credential chain lookups that would leave this machine.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    code, _, err = run_cli(monkeypatch, capsys, "up", "--spec", str(spec), "--target", "aws")
    assert code == 1
    assert "no AWS credentials" in err and "--target local" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "step, code, says",
    [
        ("nope", 2, "error: unknown step 'nope' — use one of vpc, nat, jenkins, instances"),
        ("nginx", 1, "error: step 'nginx' changes the hosts only"),
    ],
)
def test_reset_of_a_step_it_cannot_reset_is_one_line(
    tmp_path, monkeypatch, capsys, no_api, step, code, says
):
    spec = write_spec(tmp_path)
    got, _, err = run_cli(monkeypatch, capsys, "reset", step, "--spec", str(spec))
    assert got == code and err.startswith(says) and len(err.strip().splitlines()) == 1, err
