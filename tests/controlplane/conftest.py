"""One moto server for the control-plane tests, reset before each test; and a lab per module
(`readonly_lab`) for the tests that only read one."""

from __future__ import annotations

import shutil
import sys
import urllib.request
from collections.abc import Iterator
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


@pytest.fixture(scope="module")
def readonly_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A lab built once for a module's tests that only read it (a test that changes it uses
    `built_lab`). Its own moto server, so `spec_path`'s resets never reach it; its settings
    are `spec_path`'s."""
    folder = tmp_path_factory.mktemp("readonly")
    path = folder / "lab.toml"
    shutil.copy(ROOT / "lab.toml", path)
    with motoserver.ephemeral() as server, pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ENDPOINT_URL", server.endpoint)
        env.setenv("VPCLAB_STATE", str(folder / "state"))
        env.delenv("VPCLAB_TARGET", raising=False)
        env.setenv("VPCLAB_DATAPLANE", "off")
        lab = Lab(path, "local", say=lambda _line: None)
        lab.up()
        yield lab


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """`vpclab ARGS` in this process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["vpclab", *args])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    out, err = capsys.readouterr()
    return exc.value.code or 0, out, err
