"""moto's server, patched for the local target.

- **A recorder fit for a long-lived lab.** moto's recorder logs every request, and every
  request (reads too) draws from moto's random generator, so a replay reproduces ids only if
  every read is replayed as well. The agent polls twice a second, so that log would grow
  without end. Here the recorder keeps only the requests that change something, and the
  generator is re-seeded before each of them from a count of mutations: replaying the
  mutations alone then gives every resource its old id. Each recorded request is sealed
  (`recording`): a SecureString's value, user data or a password is never plaintext on
  disk, and the replay opens them in memory.
- **Public addresses the wire can use.** Instances get public IPs from 198.51.100.0/24 and
  Elastic IPs come from 203.0.113.0/24 (documentation ranges), never an address the data
  plane keeps for itself, so the API and the hosts agree.
- **Revoke as AWS does.** Revoking with `IpPermissions` matches a rule whatever its
  descriptions, as AWS does (moto wants them repeated).
- **IAM for the hosts' keys.** A request that comes through a host's door (`imds`, stamped
  with `X-Vpclab-Host`) has its signature and its action checked against the caller's
  policies by moto's own IAM access control, as AWS checks an instance profile's keys: the
  Jenkins host may do what its role allows and nothing else. Only the owner (below) reaches
  the server without a door, and its own requests stay unchecked, as before.
- **A change counter.** `GET /vpclab-api/mutations` gives the number of mutating calls
  applied so far: the agent records the count it planned from, so a checker can wait until
  the data plane has caught up with its own writes.
- **Less work per start and per request.** What moto computes again and again with the same
  answer is computed once (the regions of a service, its own module list, a response class's
  methods), and KMS keys that never sign share one private key. moto was the largest CPU
  consumer of `make test` (a quarter of it) and a few seconds of each graded lab.
- **moto's classic AMIs only.** Each EC2 backend (a region, after every reset) also loads
  moto's regional catalogues: 1,257 more images in us-east-1, each with a volume and a
  snapshot of its own, a fifth of moto's CPU in the control-plane tests. The local target
  never launches them (its own image stands in, `Site.image_stands_in`), so only moto's 44
  classic images are loaded. A recording made by a server that loaded them all replays
  with them all (`AMIS_ENV`, set by `motoserver.start`), so its default VPC keeps its ids.

Run as: python -m vpclab.localcloud.moto_main -H 127.0.0.1 -p PORT
"""

from __future__ import annotations

import functools
import io
import ipaddress
import itertools
import json
import os
import re
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import botocore.session

# moto asks botocore for a service's regions again and again (three times as it is imported,
# then for each backend it makes), each time from a new Session that loads botocore's
# endpoint data and the service's model anew: about half a second of every start. Every
# question goes to one session here, which loads each file once. Set before moto is imported.
_available_regions = botocore.session.Session.get_available_regions


@functools.cache
def _one_session() -> botocore.session.Session:
    return botocore.session.Session()


@functools.cache
def _regions(service_name: str, partition_name: str, allow_non_regional: bool) -> tuple[str, ...]:
    return tuple(
        _available_regions(_one_session(), service_name, partition_name, allow_non_regional)
    )


def _regions_once(
    self: Any, service_name: str, partition_name: str = "aws", allow_non_regional: bool = False
) -> list[str]:
    return list(_regions(service_name, partition_name, allow_non_regional))


botocore.session.Session.get_available_regions = _regions_once  # type: ignore[method-assign]

from moto import backends as moto_backends  # noqa: E402 - after the patch above
from moto import settings as moto_settings  # noqa: E402
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.core import responses as moto_responses  # noqa: E402
from moto.core.authorization import ActionAuthenticatorMixin  # noqa: E402
from moto.ec2.models import amis as moto_amis  # noqa: E402
from moto.ec2.models import ec2_backends  # noqa: E402
from moto.ec2.models import elastic_ip_addresses as moto_eips  # noqa: E402
from moto.ec2.models import elastic_network_interfaces as moto_enis  # noqa: E402
from moto.ec2.models.security_groups import SecurityGroupRule  # noqa: E402
from moto.kms import models as moto_kms  # noqa: E402
from moto.moto_api import recorder  # noqa: E402
from moto.moto_api._internal import mock_random  # noqa: E402
from moto.moto_server.werkzeug_app import DomainDispatcherApplication  # noqa: E402
from moto.server import main as moto_server_main  # noqa: E402

from vpclab.aws.session import is_mutating  # noqa: E402
from vpclab.localcloud import procfs, recording  # noqa: E402
from vpclab.localcloud.imds import HOST_HEADER  # noqa: E402
from vpclab.localcloud.motoserver import AMIS_ENV  # noqa: E402
from vpclab.localcloud.recording import Entry, action_of  # noqa: E402

SEED = 4242
REGIONAL_AMIS = ("ec2/resources/latest_amis/", "ec2/resources/ecs/optimized_amis/")
HOST_ENVIRON = "HTTP_" + HOST_HEADER.upper().replace("-", "_")
MUTATIONS_PATH = "/vpclab-api/mutations"
RESET_PATH = "/moto-api/reset"  # and reset-auth
# Instance public IPs: the data plane keeps .1 (router), .253 (services) and .254 (laptop).
INSTANCE_POOL = tuple(str(ipaddress.IPv4Address("198.51.100.0") + i) for i in range(10, 250))
EIP_POOL = tuple(str(ipaddress.IPv4Address("203.0.113.0") + i) for i in range(1, 255))


_sealer: recording.Sealer | None = None  # set by main() when recording is on
_mutations = itertools.count()
_regions_ready: set[str] = set()
_request = threading.local()  # whether the request this thread serves is a mutation
_applied = 0
_applied_lock = threading.Lock()


def _init_region(headers: dict) -> None:
    """Make a region's default VPC at its first request, from a seed of its own: otherwise
    its ids would depend on which request (a read, say) came first."""
    found = re.search(r"Credential=[^/]+/\d+/([a-z0-9-]+)/", headers.get("Authorization", ""))
    if not found or found.group(1) in _regions_ready:
        return
    region = found.group(1)
    _regions_ready.add(region)
    if region in ec2_backends[DEFAULT_ACCOUNT_ID].regions:
        mock_random.seed(f"{SEED}:{region}")
        ec2_backends[DEFAULT_ACCOUNT_ID][region]  # noqa: B018 - creates the backend


def _record_mutations(request, body: bytes | None = None) -> None:
    if request.raw_path.startswith("/moto-api/"):
        return
    _init_region(dict(request.headers))
    if body is None:  # read the body the way moto's recorder does, and put it back
        size = int(request.headers.get("Content-Length") or 0)
        body = request.environ["wsgi.input"].read(size) if size else b""
        request.environ["wsgi.input"] = io.BytesIO(body)
    raw = body if isinstance(body, bytes) else str(body).encode()
    action = action_of(dict(request.headers), request.method, raw, request.raw_url)
    if not is_mutating(action):
        return
    _request.mutating = True
    mock_random.seed(SEED * 1_000_003 + next(_mutations))
    if recorder._user_enabled and _sealer is not None:  # off while a replay runs
        entry = Entry(request.method, request.raw_url, dict(request.headers), raw, action)
        _sealer.append(Path(recorder._location), entry)


def _replay(target_host: str | None = None) -> None:
    """moto's replay, of the sealed recording: each request is opened in memory only and
    sent to this server, unrecorded."""
    enabled = recorder._user_enabled
    recorder._user_enabled = False
    try:
        key = Path(os.environ[recording.KEY_ENV])
        for entry in recording.entries(Path(recorder._location), key):
            _send(entry, target_host)
    finally:
        recorder._user_enabled = enabled


_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy


def _send(entry: Entry, target_host: str | None) -> None:
    url = entry.url
    if target_host:  # as moto does: the recorded path and query, on this server
        here, recorded = urllib.parse.urlsplit(target_host), urllib.parse.urlsplit(url)
        url = urllib.parse.urlunsplit((here.scheme, here.netloc, recorded.path, recorded.query, ""))
    headers = {k: v for k, v in entry.headers.items() if k.lower() != "transfer-encoding"}
    request = urllib.request.Request(url, entry.body, headers, method=entry.method)
    try:
        _direct.open(request, timeout=60).close()
    except urllib.error.HTTPError as refused:  # moto's replay goes on after an error too
        refused.close()


# --- the change counter --------------------------------------------------------------------

_dispatch = DomainDispatcherApplication.__call__


def _counting_dispatch(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
    global _applied
    refused = _not_the_owner(environ)
    if refused:
        start_response("403 Forbidden", [("Content-Type", "text/xml")])
        return [refused]
    if environ.get("PATH_INFO") == MUTATIONS_PATH:
        body = json.dumps({"mutations": _applied}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    # moto's reset wipes the state unseen by the recorder: counted too, so the agent, which
    # reads the whole state again only when the count moves, sees it at once.
    _request.mutating = environ.get("REQUEST_METHOD") == "POST" and str(
        environ.get("PATH_INFO", "")
    ).startswith(RESET_PATH)
    _request.from_host = bool(environ.get(HOST_ENVIRON))
    try:
        return _dispatch(self, environ, start_response)
    finally:
        # moto has applied the change once its handler returns: count it then, so a reader
        # of the count never gets ahead of the state.
        if getattr(_request, "mutating", False):
            with _applied_lock:
                _applied += 1


# --- IAM for requests from the hosts ---------------------------------------------------------

_authorize = ActionAuthenticatorMixin._authenticate_and_authorize_action


def _authorize_hosts(self: Any, *args: Any, **kwargs: Any) -> None:
    """moto's IAM check (signature, then the caller's policies) for a host's request only.
    moto checks every request once INITIAL_NO_AUTH_ACTION_COUNT is 0 (set in `patch`)."""
    if getattr(_request, "from_host", False):
        _authorize(self, *args, **kwargs)


# --- only the owner ----------------------------------------------------------------------


def _not_the_owner(environ: dict[str, Any]) -> bytes | None:
    """An EC2-style AuthFailure when the request comes from another local user than the one
    who runs this server (or root), else None. A loopback peer's uid is in /proc/net/tcp:
    any local user can open a TCP port, only the owner may use this one."""
    try:
        uid = procfs.loopback_client_uid(int(environ["REMOTE_PORT"]), int(environ["SERVER_PORT"]))
    except (KeyError, ValueError):
        uid = None
    if uid in (os.getuid(), 0):
        return None
    who = "an unknown peer" if uid is None else f"uid {uid}"
    message = (
        f"the local control plane answers only its owner (uid {os.getuid()}), not {who}: "
        "run vpclab as the user who started the local cloud"
    )
    return (
        f"<Response><Errors><Error><Code>AuthFailure</Code><Message>{message}</Message>"
        "</Error></Errors><RequestID>local</RequestID></Response>"
    ).encode()


# --- public addresses ----------------------------------------------------------------------


def _in_use() -> set[str]:
    used: set[str] = set()
    for account in list(ec2_backends.keys()):
        for backend in list(ec2_backends[account].values()):
            used.update(e.public_ip for e in list(backend.enis.values()) if e.public_ip)
            used.update(a.public_ip for a in list(backend.addresses))
    return used


def _pick(pool: tuple[str, ...]) -> str:
    """A free address of the pool, drawn from moto's seeded generator (replays agree)."""
    used = _in_use()
    free = [ip for ip in pool if ip not in used]
    return mock_random.choice(free or list(pool))


def instance_public_ip() -> str:
    return _pick(INSTANCE_POOL)


def elastic_ip() -> str:
    return _pick(EIP_POOL)


# --- revoke by IpPermissions, the way AWS matches ------------------------------------------


def _same_rule(self: SecurityGroupRule, other: object) -> bool:
    """Two rules are the same when protocol, ports and peer agree; descriptions (of a CIDR
    or of a source group) do not take part, as on AWS."""
    if not isinstance(other, SecurityGroupRule):
        return NotImplemented
    if self.ip_protocol != other.ip_protocol:
        return False
    for key in ("CidrIp", "CidrIpv6"):
        if self.ip_range.get(key) != other.ip_range.get(key):
            return False
    if (self.source_group or {}).get("GroupId") != (other.source_group or {}).get("GroupId"):
        return False
    if self.prefix_list_id != other.prefix_list_id:
        return False
    if self.ip_protocol != "-1" and (
        self.from_port != other.from_port or self.to_port != other.to_port
    ):
        return False
    return True


# --- what moto looks up for every request, looked up once ----------------------------------

_moto_modules = moto_backends.list_of_moto_modules
_method_names = moto_responses.method_names_from_class


@functools.cache
def _moto_modules_once() -> Iterable[str]:
    """moto lists its package folder (a stat of each entry) to route each request; the
    folder does not change while the server runs."""
    return tuple(_moto_modules())


@functools.cache
def _method_names_once(clazz: type) -> frozenset[str]:
    """moto lists a response class's methods (inspect.getmembers over hundreds of them) to
    find each request's action; a class does not change while the server runs."""
    return frozenset(_method_names(clazz))


# --- KMS keys that never sign share one private key ------------------------------------------

_new_private_key = moto_kms.generate_private_key


@functools.cache
def _unused_private_key() -> Any:
    return _new_private_key("SYMMETRIC_DEFAULT")


def _private_key(key_spec: str) -> Any:
    """moto gives every KMS key a private key: a fresh 2048-bit RSA one (0.1 s) even for a
    symmetric key, which never signs (a lab makes two at each reset, EBS's and Parameter
    Store's). Those keys share one; a signing key (RSA_*, ECC_*) still gets its own."""
    if key_spec.startswith(("RSA_", "ECC_")):
        return _new_private_key(key_spec)
    return _unused_private_key()


_load_resource = moto_amis.load_resource


def _classic_amis_only(resource: str) -> Any:
    """moto's loader, as each EC2 backend calls it: a regional AMI catalogue is not there
    (moto then skips it, as for a region it has none for)."""
    if resource.startswith(REGIONAL_AMIS):
        raise FileNotFoundError(resource)
    return _load_resource(resource)


def patch() -> None:
    """Apply every patch above to moto, in this process."""
    if os.environ.get(AMIS_ENV) != "all":
        moto_amis.load_resource = _classic_amis_only
    moto_backends.list_of_moto_modules = _moto_modules_once
    moto_responses.method_names_from_class = _method_names_once
    moto_kms.generate_private_key = _private_key
    recorder._record_request = _record_mutations
    recorder.replay_recording = _replay
    DomainDispatcherApplication.__call__ = _counting_dispatch
    moto_enis.random_public_ip = instance_public_ip
    moto_eips.random_ip = elastic_ip
    SecurityGroupRule.__eq__ = _same_rule
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin._authenticate_and_authorize_action = _authorize_hosts


def main(argv: list[str] | None = None) -> None:
    global _sealer
    mock_random.seed(SEED)
    patch()
    if recorder._user_enabled:  # the recording holds secrets: sealed, or not at all
        key = os.environ.get(recording.KEY_ENV)
        if not key:
            sys.exit(f"moto_main: recording needs {recording.KEY_ENV} (the key file's path)")
        _sealer = recording.load(Path(key))
    moto_server_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
