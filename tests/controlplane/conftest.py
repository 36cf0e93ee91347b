"""One moto server for the control-plane tests, reset before each test."""

from __future__ import annotations

import shutil
import sys
import urllib.request
from pathlib import Path

import pytest

from vpclab import cli
from vpclab.lab import Lab
from vpclab.localcloud import motoserver

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def moto_endpoint():
    with motoserver.ephemeral() as server:
        yield server.endpoint


@pytest.fixture
def spec_path(tmp_path, monkeypatch, moto_endpoint) -> Path:
    """A fresh cloud and state folder, with the project's lab.toml."""
    urllib.request.urlopen(
        urllib.request.Request(f"{moto_endpoint}/moto-api/reset", data=b"", method="POST"),
        timeout=30,
    ).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("VPCLAB_STATE", str(tmp_path / "state"))
    monkeypatch.delenv("VPCLAB_TARGET", raising=False)
    # These tests are about the control plane; tests/localcloud covers the hosts.
    monkeypatch.setenv("VPCLAB_DATAPLANE", "off")
    path = tmp_path / "lab.toml"
    shutil.copy(ROOT / "lab.toml", path)
    return path


@pytest.fixture
def lab(spec_path) -> Lab:
    return Lab(spec_path, "local", say=lambda _line: None)


@pytest.fixture
def built_lab(lab) -> Lab:
    lab.up()
    return lab


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """`vpclab ARGS` in this process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["vpclab", *args])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    out, err = capsys.readouterr()
    return exc.value.code or 0, out, err
