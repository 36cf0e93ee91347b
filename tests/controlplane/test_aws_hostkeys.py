"""Target aws: host keys are pinned from the console output cloud-init prints, never learned
on first use; the live checks probe from the hosts, and never touch a stand-in's addresses.

moto's console output is fake, so GetConsoleOutput is answered by botocore's Stubber or an
event hook, with a console text built from freshly generated keys. Nothing here connects to
any address: the one "from here" connect is a recording fake.
"""

from __future__ import annotations

import base64
import datetime

import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from vpclab import remote
from vpclab.aws.retry import FakeClock, Pacing
from vpclab.aws.session import LOCAL_CREDENTIALS, Cloud, new_session
from vpclab.checklist import Status
from vpclab.checks import Facts
from vpclab.checks.live import lab_live_checks, probe_all
from vpclab.checks.probers import Backend, NotProbed, SshProber, backend_for
from vpclab.errors import VpclabError
from vpclab.hosts.console_keys import pin_from_console
from vpclab.hosts.ssh import known_hosts_path, pinned_host_keys
from vpclab.lab import Lab
from vpclab.localcloud import internet
from vpclab.localcloud.status import AgentStatus, InternetAddresses, LabStatus, ServicesStatus
from vpclab.site import site_for

NOW = datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC)


def openssh_public(key) -> str:
    raw = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return raw.decode()


def host_keys() -> list[str]:
    """A host's public keys as cloud-init prints them: ECDSA and Ed25519, freshly made."""
    return [
        openssh_public(ec.generate_private_key(ec.SECP256R1())),
        openssh_public(ed25519.Ed25519PrivateKey.generate()),
    ]


def console_text(hostname: str, keys: list[str]) -> str:
    """Console output shaped like an Ubuntu instance's first boot."""
    lines = [
        "[    0.000000] Linux version 6.5.0-1014-aws (buildd@lcy02-amd64-012)",
        "ci-info: ++++++++++++++++++++++Net device info+++++++++++++++++++++++",
        "<14>May  1 10:00:00 cloud-init: #############################################",
        "-----BEGIN SSH HOST KEY FINGERPRINTS-----",
        f"256 SHA256:q1w2e3r4t5y6u7i8o9p0 root@{hostname} (ECDSA)",
        f"256 SHA256:a1s2d3f4g5h6j7k8l9z0 root@{hostname} (ED25519)",
        "-----END SSH HOST KEY FINGERPRINTS-----",
        "<14>May  1 10:00:00 cloud-init: #############################################",
        "-----BEGIN SSH HOST KEY KEYS-----",
        *[f"{k} root@{hostname}" for k in keys],
        "-----END SSH HOST KEY KEYS-----",
        "Cloud-init v. 23.4 finished at Wed, 01 May 2024 10:00:05 +0000. Up 25.1 seconds",
    ]
    return "\r\n".join(lines) + "\r\n"


def encoded(text: str) -> str:
    # What the API sends: boto3 decodes the Output (an after-call handler), as on AWS.
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def moto_lab(lab) -> Lab:
    """A lab through the instances in moto (the local target builds it: no preflight)."""
    lab.up("instances")
    return lab


@pytest.fixture
def aws_cloud(moto_endpoint) -> Cloud:
    session = new_session("us-east-1", **LOCAL_CREDENTIALS)
    return Cloud("aws", "us-east-1", moto_endpoint, session)


@pytest.fixture
def aws_lab(moto_lab, aws_cloud, monkeypatch) -> Lab:
    """The same lab seen through target aws (its control plane is the test's moto)."""
    monkeypatch.setattr("vpclab.lab.connect", lambda *_a, **_k: aws_cloud)
    lab = Lab(moto_lab.spec_path, "aws", say=lambda _line: None)
    lab.pacing = Pacing.fake()
    return lab


def test_keys_are_pinned_from_the_console_once_it_shows_them(moto_lab, tmp_path):
    instances = moto_lab.context().state().instances
    web, app = instances["web"], instances["app"]
    keys = {"web": host_keys(), "app": host_keys()}
    clock = FakeClock()
    ec2 = moto_lab.cloud.ec2
    known = tmp_path / "known_hosts"
    with Stubber(ec2) as stub:
        for role, instance in (("app", app), ("web", web)):
            asked = {"InstanceId": instance["InstanceId"], "Latest": True}
            # Right after launch the console is empty: no Output at all, then boot messages.
            stub.add_response("get_console_output", {"InstanceId": asked["InstanceId"]}, asked)
            early = encoded("[    0.000000] Linux version 6.5.0-1014-aws\r\n")
            stub.add_response(
                "get_console_output",
                {"InstanceId": asked["InstanceId"], "Output": early, "Timestamp": NOW},
                asked,
            )
            full = encoded(console_text(f"ip-{role}", keys[role]))
            stub.add_response(
                "get_console_output",
                {"InstanceId": asked["InstanceId"], "Output": full, "Timestamp": NOW},
                asked,
            )
        pinned = pin_from_console(ec2, {"web": web, "app": app}, known, Pacing.fake(clock))
        stub.assert_no_pending_responses()
    assert [p.role for p in pinned] == ["app", "web"]
    assert clock.slept and clock.now < Pacing().state_budget  # it waited, bounded, no real time
    strip = [[" ".join(k.split()[:2]) for k in keys[r]] for r in ("web", "app")]
    assert pinned_host_keys(known, web["PublicIpAddress"]) == strip[0]
    assert pinned_host_keys(known, web["PrivateIpAddress"]) == strip[0]
    assert pinned_host_keys(known, app["PrivateIpAddress"]) == strip[1]
    assert "PublicIpAddress" not in app
    # A later `up` reads no console again: each address is pinned for this very instance.
    with Stubber(ec2) as stub:
        assert pin_from_console(ec2, {"web": web, "app": app}, known, Pacing.fake()) == []
        stub.assert_no_pending_responses()
    # A new instance at the same address is pinned anew.
    web_again = {**web, "InstanceId": "i-0123456789abcdef0"}
    new_keys = host_keys()
    with Stubber(ec2) as stub:
        asked = {"InstanceId": web_again["InstanceId"], "Latest": True}
        full = encoded(console_text("ip-web", new_keys))
        stub.add_response(
            "get_console_output",
            {"InstanceId": asked["InstanceId"], "Output": full, "Timestamp": NOW},
            asked,
        )
        (again,) = pin_from_console(ec2, {"web": web_again}, known, Pacing.fake())
    assert again.instance_id == web_again["InstanceId"]
    assert pinned_host_keys(known, web["PublicIpAddress"]) == [
        " ".join(k.split()[:2]) for k in new_keys
    ]


def test_a_console_without_keys_is_never_trusted(moto_lab, tmp_path):
    """moto's own (fake) console output has no key block: give up, bounded, pin nothing."""
    web = moto_lab.context().state().instances["web"]
    clock = FakeClock()
    known = tmp_path / "known_hosts"
    with pytest.raises(VpclabError, match="host keys in its console output") as caught:
        pin_from_console(moto_lab.cloud.ec2, {"web": web}, known, Pacing.fake(clock))
    assert "trusted on first use" in caught.value.fix
    assert clock.now >= Pacing().state_budget and len(clock.slept) > 3
    assert not known.exists()


def test_up_on_aws_pins_every_host_from_its_console(aws_lab, aws_cloud, monkeypatch):
    instances = aws_lab.context().state().instances
    keys = {i["InstanceId"]: host_keys() for i in instances.values()}
    asked: list[str] = []

    def console(params: dict, **_: object):
        instance_id = params["body"]["InstanceId"]
        asked.append(instance_id)
        parsed = {"InstanceId": instance_id, "Timestamp": NOW}
        if asked.count(instance_id) > 1:  # empty at first, as after a launch
            parsed["Output"] = encoded(console_text("ip-host", keys[instance_id]))
        return AWSResponse("https://ec2.invalid/", 200, {}, None), parsed

    aws_cloud.ec2.meta.events.register("before-call.ec2.GetConsoleOutput", console)
    # A stand-in control plane is left alone: nothing asked, nothing pinned.
    said: list[str] = []
    aws_lab.say = said.append
    aws_lab.follow_dataplane()
    assert asked == [] and any("host keys not pinned: " in line for line in said)
    # As on real AWS (no endpoint of its own), the keys are read from each console.
    monkeypatch.setattr(remote, "stand_in", lambda _reach: None)
    aws_lab.follow_dataplane()
    known = known_hosts_path(aws_lab.spec.name, aws_lab.spec_path)
    assert sorted(set(asked)) == sorted(keys)
    for instance in instances.values():
        want = [" ".join(k.split()[:2]) for k in keys[instance["InstanceId"]]]
        for address in filter(
            None, (instance["PrivateIpAddress"], instance.get("PublicIpAddress"))
        ):
            assert pinned_host_keys(known, address) == want


def test_live_checks_on_a_stand_in_aws_are_skipped_never_probed(aws_lab):
    results = aws_lab.verify(through="instances")
    live = {r.id: r for r in results if r.id.startswith("instances.") and "internet" in r.id}
    assert live and all(r.status is Status.SKIP for r in live.values())
    assert all("stand-in" in r.detail for r in live.values())
    (user_data,) = [r for r in results if r.id == "instances.user_data"]
    assert user_data.status is Status.SKIP and "stand-in" in user_data.detail
    assert not [r.id for r in results if r.status is Status.FAIL]


def test_backend_is_chosen_by_target_and_can_be_forced():
    assert backend_for(site_for("local")) is Backend.namespaces
    assert backend_for(site_for("aws")) is Backend.ssh
    assert backend_for(site_for("local"), "ssh") is Backend.ssh
    with pytest.raises(ValueError):
        backend_for(site_for("aws"), "telnet")


def test_namespace_backend_forced_on_aws_is_skipped(aws_lab):
    facts = Facts(aws_lab.spec, aws_lab.cloud, aws_lab.spec_path)
    results = lab_live_checks(facts, {"instances"}, aws_lab.local_dir, backend="namespaces")
    assert results and {r.status for r in results} == {Status.SKIP}
    assert "local target only" in results[0].detail


def test_ssh_prober_on_aws_probes_the_internet_from_here_and_logs_in_for_the_rest(
    aws_lab, monkeypatch
):
    """The internet probes use this machine (here a recording fake that accepts only the
    web server's SSH); every host probe needs an SSH session, which fails here."""
    facts = Facts(aws_lab.spec, aws_lab.cloud, aws_lab.spec_path)
    state = aws_lab.context().state().instances
    web_public = state["web"]["PublicIpAddress"]
    app_private = state["app"]["PrivateIpAddress"]
    tried: list[tuple[str, int]] = []

    class Accepted:
        def __enter__(self):
            return self

        def __exit__(self, *_exc):
            return False

    def from_here(address: str, port: int, _timeout: float):
        tried.append((address, port))
        if (address, port) == (web_public, 22):
            return Accepted()
        raise TimeoutError("timed out")

    def no_login(_reach, role):
        raise VpclabError(f"cannot reach {role} (test: no hosts)")

    monkeypatch.setattr(remote, "shared", no_login)
    results = {
        r.id: r
        for r in probe_all(
            SshProber(facts, connect_here=from_here), {"instances"}, facts.spec.ports
        )
    }
    assert tried == [(web_public, 22), (app_private, 22), (app_private, 5000)]
    assert results["instances.internet_to_web_ssh"].status is Status.PASS
    assert results["instances.internet_to_app_ssh_blocked"].status is Status.PASS
    assert results["instances.internet_to_app_5000_blocked"].status is Status.PASS
    booted = results["instances.hosts_booted"]
    assert booted.status is Status.FAIL and "cannot reach app (test: no hosts)" in booted.detail
    web_to_app = results["instances.web_to_app_ssh"]
    assert web_to_app.status is Status.SKIP and "cannot reach web" in web_to_app.detail


def test_ssh_prober_asks_the_site_what_the_app_reaches_on_aws_pypi_from_the_app_host(
    aws_lab, monkeypatch
):
    """app → internet on aws: the app host itself opens a channel to PyPI (a recording fake
    transport here: nothing connects)."""
    facts = Facts(aws_lab.spec, aws_lab.cloud, aws_lab.spec_path)
    opened: list[tuple[str, tuple[str, int]]] = []

    class Channel:
        def close(self) -> None:
            pass

    class Host:
        def __init__(self, role: str) -> None:
            self.role = role
            self.transport = self

        def open_channel(self, _kind, dest, _src, timeout):
            opened.append((self.role, dest))
            return Channel()

    monkeypatch.setattr(remote, "shared", lambda _reach, role: Host(role))
    results = {r.id: r for r in probe_all(SshProber(facts), {"nat"}, facts.spec.ports)}
    assert opened == [("app", ("pypi.org", 443))]
    reached = results["nat.app_reaches_internet"]
    assert reached.status is Status.PASS and "PyPI pypi.org:443" in reached.detail


def _lab_status(lab: str, services: str) -> LabStatus:
    addresses = InternetAddresses("198.51.100.1", "198.51.100.2", "198.51.100.3")
    return LabStatus(
        lab, "t1", None, "r", "i", addresses, ServicesStatus(services, git_url="git://x/p")
    )


def test_the_local_site_names_the_lab_internets_git_daemon_once_it_is_up(moto_lab, monkeypatch):
    site = site_for("local")
    facts = Facts(moto_lab.spec, moto_lab.cloud, moto_lab.spec_path)
    name = moto_lab.spec.name
    monkeypatch.setattr("vpclab.localcloud.client.status", lambda _dir: None)
    with pytest.raises(NotProbed, match=f"the local agent has nothing of lab '{name}'"):
        site.internet_target(facts)
    agent = AgentStatus(pid=1, labs={name: _lab_status(name, "starting")})
    monkeypatch.setattr("vpclab.localcloud.client.status", lambda _dir: agent)
    with pytest.raises(NotProbed, match=r"not up \(starting\)"):
        site.internet_target(facts)
    agent.labs[name] = _lab_status(name, "up")
    target = site.internet_target(facts)
    assert (target.address, target.port, target.label) == (
        "198.51.100.3",
        internet.GIT_PORT,
        "git daemon",
    )
    assert site_for("aws").internet_target(facts).address == "pypi.org"
