"""Re-running a notebook's key-pair cell never overwrites a private key that AWS holds: the
key pair's import is refused as a duplicate only after `kit.new_key_pair` has run, so the
helper itself must keep the file. Against a moto server, as the notebooks run."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

import pytest

from vpclab.course import kit
from vpclab.errors import VpclabError
from vpclab.lab import Lab
from vpclab.localcloud import motoserver

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def moto_endpoint():
    with motoserver.ephemeral() as server:
        yield server.endpoint


@pytest.fixture
def lab(tmp_path, monkeypatch, moto_endpoint) -> Lab:
    urllib.request.urlopen(
        urllib.request.Request(f"{moto_endpoint}/moto-api/reset", data=b"", method="POST"),
        timeout=30,
    ).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("VPCLAB_STATE", str(tmp_path / "state"))
    monkeypatch.delenv("VPCLAB_TARGET", raising=False)
    monkeypatch.setenv("VPCLAB_DATAPLANE", "off")
    shutil.copy(ROOT / "lab.toml", tmp_path / "lab.toml")
    return Lab(tmp_path / "lab.toml")


def _import(lab: Lab, role: str) -> str:
    """The notebooks' key-pair cell: make the key here, import its public half."""
    key_name = lab.spec.instance(role).key_name
    lab.cloud.ec2.import_key_pair(
        KeyName=key_name,
        PublicKeyMaterial=kit.new_key_pair(lab, role).encode(),
        TagSpecifications=kit.tag_spec(lab, "key-pair", role, key_name),
    )
    return key_name


def test_rerun_keeps_the_private_key_aws_holds(lab):
    key_name = _import(lab, "jenkins")
    pem = lab.keys_dir / f"{key_name}.pem"
    pub = lab.keys_dir / f"{key_name}.pub"
    before = pem.read_bytes(), pub.read_bytes()
    with pytest.raises(VpclabError) as refused:
        _import(lab, "jenkins")
    assert (pem.read_bytes(), pub.read_bytes()) == before
    assert oct(pem.stat().st_mode & 0o777) == "0o600"
    message = str(refused.value)
    assert "\n" not in message
    assert key_name in message and "kept" in message
    # AWS still holds the one key pair, the one whose private half is on disk.
    pairs = lab.cloud.ec2.describe_key_pairs(KeyNames=[key_name])["KeyPairs"]
    assert len(pairs) == 1
    assert pub.read_text().split()[1] in pairs[0].get("PublicKey", pub.read_text())


def test_a_key_file_aws_does_not_hold_is_replaced(lab):
    """A leftover file (the key pair was deleted, or never imported) guards nothing: the
    cell makes a fresh key and imports it."""
    key_name = lab.spec.instance("web").key_name
    lab.keys_dir.mkdir(parents=True, exist_ok=True)
    stale = lab.keys_dir / f"{key_name}.pem"
    stale.write_text("stale\n")
    assert _import(lab, "web") == key_name
    assert stale.read_text() != "stale\n"
    assert lab.cloud.ec2.describe_key_pairs(KeyNames=[key_name])["KeyPairs"]


def test_an_aws_key_pair_without_its_file_gets_a_new_file(lab):
    """No private key on disk to protect: the helper writes one, and AWS refuses the
    duplicate import as before (the student deletes the key pair to redo the step)."""
    key_name = _import(lab, "app")
    (lab.keys_dir / f"{key_name}.pem").unlink()
    public = kit.new_key_pair(lab, "app")
    assert (lab.keys_dir / f"{key_name}.pem").exists()
    assert public.startswith("ssh-ed25519 ")
