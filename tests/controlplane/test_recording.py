"""The local control plane's recording holds no secret in plaintext: sealed under a 0600 key,
replayed after a restart, refused in one line without its key, and older plaintext
recordings sealed at the next start."""

from __future__ import annotations

import base64
import json
import shutil
import urllib.parse
from pathlib import Path

import boto3
import pytest
from cryptography.fernet import Fernet

from tests.controlplane.conftest import run_cli
from vpclab.aws.session import LOCAL_CREDENTIALS, new_session
from vpclab.errors import VpclabError
from vpclab.localcloud import motoserver, recording
from vpclab.localcloud.recording import Entry

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-value-7f3a9c"
USER_DATA = f"#!/bin/sh\necho token={SECRET} > /root/token\n"


@pytest.fixture
def local_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    path = tmp_path / "local"
    yield path
    motoserver.stop(path)


def _session(endpoint: str) -> boto3.Session:
    return new_session("us-east-1", **LOCAL_CREDENTIALS)


def _client(endpoint: str, service: str):
    return _session(endpoint).client(service, endpoint_url=endpoint)


def _files(local_dir: Path) -> tuple[Path, Path]:
    return local_dir / "moto-recording.jsonl", recording.key_path(local_dir)


def _strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _readable(record: Path) -> str:
    """Everything the file gives away without a key: its text, and each JSON string decoded
    from base64 (moto keeps bodies so) and from URL encoding (EC2's form bodies)."""
    raw = record.read_bytes()
    views = [raw.decode("utf-8", "replace")]
    for line in raw.decode().splitlines():
        for text in _strings(json.loads(line)):
            try:
                decoded = base64.b64decode(text, validate=True).decode("utf-8", "replace")
            except ValueError:
                continue
            views += [decoded, urllib.parse.unquote_plus(decoded)]
    return "\n".join(views)


def _gives_away(record: Path) -> bool:
    seen = _readable(record)
    return SECRET in seen or base64.b64encode(USER_DATA.encode()).decode() in seen


def _sealed_recording(local_dir: Path) -> Path:
    """A recording of one PutParameter, sealed, made without a server."""
    local_dir.mkdir(parents=True)
    record, key = _files(local_dir)
    recording.prepare(record, key)
    body = json.dumps({"Name": "/t/k", "Value": SECRET, "Type": "SecureString"}).encode()
    headers = {"X-Amz-Target": "AmazonSSM.PutParameter", "Host": "127.0.0.1:1"}
    entry = Entry("POST", "http://127.0.0.1:1/", headers, body, "PutParameter")
    recording.load(key).append(record, entry)
    return record


def test_secrets_are_sealed_on_disk_and_come_back_after_a_restart(local_dir):
    endpoint = motoserver.start(local_dir).endpoint
    _client(endpoint, "ssm").put_parameter(Name="/t/secret", Value=SECRET, Type="SecureString")
    ec2 = _client(endpoint, "ec2")
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    made = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, UserData=USER_DATA)
    instance = made["Instances"][0]["InstanceId"]
    record, key = _files(local_dir)
    assert not _gives_away(record)
    raw = record.read_bytes()
    assert b"PutParameter" in raw and b"RunInstances" in raw, "the actions stay readable"
    assert (key.stat().st_mode & 0o777, record.stat().st_mode & 0o777) == (0o600, 0o600)

    motoserver.stop(local_dir)
    endpoint = motoserver.start(local_dir).endpoint
    got = _client(endpoint, "ssm").get_parameter(Name="/t/secret", WithDecryption=True)
    assert got["Parameter"]["Value"] == SECRET
    attr = _client(endpoint, "ec2").describe_instance_attribute(
        InstanceId=instance, Attribute="userData"
    )
    assert base64.b64decode(attr["UserData"]["Value"]).decode() == USER_DATA
    assert not _gives_away(record), "the replay wrote nothing in clear"


def test_an_older_plaintext_recording_replays_and_is_sealed(local_dir):
    endpoint = motoserver.start(local_dir).endpoint
    _client(endpoint, "ssm").put_parameter(Name="/t/old", Value=SECRET, Type="SecureString")
    motoserver.stop(local_dir)
    record, key = _files(local_dir)
    # Rewrite it as older code left it: moto's own lines, in clear, and no key.
    old = [json.dumps(e.as_moto()) for e in recording.entries(record, key)]
    record.write_text("".join(line + "\n" for line in old))
    key.unlink()
    assert _gives_away(record), "moto's own lines give the secret away"

    endpoint = motoserver.start(local_dir).endpoint
    assert not _gives_away(record)
    assert record.stat().st_mode & 0o777 == 0o600 and key.stat().st_mode & 0o777 == 0o600
    got = _client(endpoint, "ssm").get_parameter(Name="/t/old", WithDecryption=True)
    assert got["Parameter"]["Value"] == SECRET


@pytest.mark.parametrize("fault", ["missing", "another", "garbled"])
def test_a_recording_that_does_not_open_stops_the_start_in_one_line(local_dir, fault):
    record = _sealed_recording(local_dir)
    _, key = _files(local_dir)
    if fault == "missing":
        key.unlink()
    elif fault == "another":
        key.write_bytes(Fernet.generate_key())
    else:
        with record.open("a") as out:
            out.write("not json\n")
    with pytest.raises(VpclabError) as caught:
        motoserver.start(local_dir)
    line = caught.value.line()
    assert "\n" not in line and str(record) in line and "vpclab local reset --force" in line
    assert motoserver.status(local_dir) is None, "no server started"


def test_the_key_is_made_once_0600_and_seals_each_line(tmp_path):
    record, key = tmp_path / "r.jsonl", tmp_path / "r.key"
    recording.prepare(record, key)
    first = key.read_bytes()
    recording.prepare(record, key)
    assert key.read_bytes() == first and key.stat().st_mode & 0o777 == 0o600
    sealer = recording.load(key)
    entry = Entry("POST", "http://127.0.0.1:1/", {"A": "b"}, SECRET.encode(), "PutParameter")
    sealer.append(record, entry)
    sealer.append(record, entry)
    assert not _gives_away(record)
    assert recording.entries(record, key) == [entry, entry]


def test_cli_names_the_file_and_local_reset_empties_the_cloud(tmp_path, monkeypatch, capsys):
    spec = tmp_path / "lab.toml"
    shutil.copy(ROOT / "lab.toml", spec)
    monkeypatch.setenv("VPCLAB_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("VPCLAB_DATAPLANE", "off")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    local_dir = tmp_path / "state" / "local"
    record = _sealed_recording(local_dir)
    _, key = _files(local_dir)
    key.unlink()

    code, out, err = run_cli(monkeypatch, capsys, "local", "start", "--spec", str(spec))
    said = (out + err).strip()
    assert code == 1 and len(said.splitlines()) == 1 and "Traceback" not in said
    assert str(record) in said.replace("\n", "") and "local reset --force" in said

    code, out, err = run_cli(monkeypatch, capsys, "local", "reset", "--spec", str(spec))
    assert code == 2 and "--force" in out + err and record.exists()
    code, out, err = run_cli(monkeypatch, capsys, "local", "reset", "--force", "--spec", str(spec))
    assert code == 0 and not record.exists() and not key.exists()
