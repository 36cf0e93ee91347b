"""The private app is reached only by jumping through the web server, keys pinned for both."""
# ruff: noqa: F811 - fixtures imported from hosts_fixtures are requested by name

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.localcloud.hosts_fixtures import NetLab, make_client_key, netlab, state_dir  # noqa: F401 - fixtures
from vpclab.errors import VpclabError
from vpclab.hosts.ssh import Host, known_hosts_path, open_host, pin_host_keys, ssh_command
from vpclab.localcloud import hostboot
from vpclab.localcloud.netns_socket import connect_in
from vpclab.paths import keys_dir

ADMIN_IP = "198.51.100.254"
WEB_PUBLIC = "198.51.100.10"
WEB_PRIVATE = "10.0.2.1"
APP_IP = "10.0.2.10"


@pytest.fixture
def pair(netlab: NetLab, state_dir: Path) -> Iterator[tuple[Host, Host]]:
    """internet -- web (public) -- app (private): the app has no link to the internet."""
    internet, web_ns, app_ns = netlab.ns("internet"), netlab.ns("web"), netlab.ns("app")
    netlab.link(internet, ADMIN_IP, web_ns, WEB_PUBLIC)
    netlab.link(web_ns, WEB_PRIVATE, app_ns, APP_IP)
    _, public = make_client_key(keys_dir(netlab.lab), "lab-key")
    web = netlab.boot("web", public, hostname="web")
    app = netlab.boot("app", public, hostname="app")
    hostboot.wait_ssh(internet, WEB_PUBLIC, timeout=10)
    hostboot.wait_ssh(web_ns, APP_IP, timeout=10)
    known = known_hosts_path(netlab.lab)
    pin_host_keys(known, WEB_PUBLIC, [web.host_public_key])
    pin_host_keys(known, APP_IP, [app.host_public_key])
    web_host = open_host(netlab.lab, WEB_PUBLIC, key_name="lab-key", name="web")
    app_host = open_host(netlab.lab, APP_IP, key_name="lab-key", via=web_host, name="app")
    yield web_host, app_host
    app_host.close()
    web_host.close()


def test_app_is_reached_through_the_web_server(pair, netlab):
    web, app = pair
    assert app.netns is None and app.via is web
    assert app.run("hostname").stdout.strip() == "app"
    assert web.run("hostname").stdout.strip() == "web"
    # The app saw the connection come from the web server's private address.
    assert app.run("echo $SSH_CLIENT").stdout.split()[0] == WEB_PRIVATE
    assert app.run("id -u", sudo=True).stdout.strip() == "0"
    app.put_text("from afar\n", "/home/ubuntu/note")
    assert app.read_text("/home/ubuntu/note") == "from afar\n"
    # Without the jump there is no way in from the internet.
    with pytest.raises(OSError):
        connect_in(netlab.ns("internet"), (APP_IP, 22), timeout=0.5).close()


def test_the_apps_key_is_pinned_too(pair, netlab, tmp_path):
    web, app = pair
    _, other = make_client_key(tmp_path, "impostor")
    pin_host_keys(known_hosts_path(netlab.lab), APP_IP, [other])
    app.close()
    with pytest.raises(VpclabError, match="does not match the pinned one"):
        app.connect()
    # The web server's own pin is untouched by re-pinning the app.
    assert web.run("true").ok


def test_jump_fails_clearly_when_the_app_is_unreachable(pair, netlab):
    web, _ = pair
    ghost = Host(
        "10.0.2.99",
        key_file=web.key_file,
        known_hosts=web.known_hosts,
        via=web,
        name="ghost",
        connect_timeout=3,
    )
    with pytest.raises(VpclabError, match="cannot reach ghost .* through web"):
        ghost.connect()


def test_system_ssh_jumps_with_the_same_pins(pair, netlab):
    argv = ssh_command(
        netlab.lab,
        "app",
        address=APP_IP,
        jump=WEB_PUBLIC,
        key_name="lab-key",
        batch=True,
        command=["hostname"],
    )
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "app"
