"""The local hosts' instance metadata service (IMDSv2) and their door to the control plane.

On AWS every instance reaches 169.254.169.254 on port 80, served off the instance: a session
token (PUT, then the token in a header: IMDSv2, `HttpTokens=required`), its instance id,
region, user data and the temporary keys of its instance profile's role. Locally the lab's
router namespace plays that part: the address sits on the router's loopback, the agent
listens there (`netns_socket`), and each request's source address names the instance (a
host cannot change its address: its root has no network capability in its namespace).
Nothing listens inside a host, so its own port 80 (nginx) stays free.

The keys are real temporary keys from moto's STS (AssumeRole on the profile's role, the
instance id as the session name), taken again well before they expire. The same address
serves, on `CONTROL_PLANE_PORT`, the hosts' way to the control plane (the regional endpoint
on AWS): a pass-through to moto that stamps every request with the host it came from, so
moto checks its signature and the caller's policy (`moto_main`), and that never passes
moto's own API. The hosts' AWS config file names it as `endpoint_url` (`aws_config`).
"""

from __future__ import annotations

import datetime
import json
import logging
import secrets
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from vpclab.localcloud import netns
from vpclab.localcloud.netns_socket import socket_in
from vpclab.localcloud.passthrough import Answer, Passthrough, Request

log = logging.getLogger("vpclab.agent")

METADATA_IP = "169.254.169.254"
METADATA_PORT = 80
CONTROL_PLANE_PORT = 4566  # LocalStack's customary port: an emulated regional endpoint
METADATA_PORTS = f"{METADATA_PORT}, {CONTROL_PLANE_PORT}"  # an nft set's elements
HOST_HEADER = "X-Vpclab-Host"  # set by the door, never by a client: moto enforces IAM for it
TOKEN_TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
MAX_TOKEN_TTL = 21600
CREDENTIAL_SECONDS = 3600
ROLE_RECHECK = 30.0  # seconds: a changed profile association shows within this
REFRESH_BEFORE = 20 * 60  # botocore refreshes 15 min before expiry: be newer than that


def endpoint_url() -> str:
    """The control plane as every local host sees it."""
    return f"http://{METADATA_IP}:{CONTROL_PLANE_PORT}"


def aws_config(region: str) -> str:
    """A host's `~/.aws/config`: the region, and the control plane's address in the lab."""
    # The metadata service answers from Python on a shared machine: more than botocore's
    # default one second and one attempt.
    return (
        f"[default]\nregion = {region}\nendpoint_url = {endpoint_url()}\n"
        "metadata_service_timeout = 5\nmetadata_service_num_attempts = 3\n"
    )


@dataclass(frozen=True)
class Credentials:
    role: str
    access_key_id: str
    secret_access_key: str
    token: str
    expiration: datetime.datetime
    updated: datetime.datetime

    def document(self) -> dict[str, str]:
        """The JSON document IMDS serves for the role."""
        stamp = "%Y-%m-%dT%H:%M:%SZ"
        return {
            "Code": "Success",
            "LastUpdated": self.updated.strftime(stamp),
            "Type": "AWS-HMAC",
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "Token": self.token,
            "Expiration": self.expiration.strftime(stamp),
        }


class InstanceFacts:
    """What the metadata service says about instances, read from the control plane as its
    operator (the agent's credentials), with each instance's keys cached until near expiry."""

    def __init__(self, session: Any, endpoint: str, region: str) -> None:
        self.region = region
        self.ec2 = session.client("ec2", endpoint_url=endpoint)
        self.iam = session.client("iam", endpoint_url=endpoint)
        self.sts = session.client("sts", endpoint_url=endpoint)
        self._keys: dict[str, Credentials] = {}
        self._checked: dict[str, float] = {}  # when each instance's profile was last read
        self._lock = threading.Lock()

    def availability_zone(self, instance_id: str) -> str:
        found = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return found[0]["Instances"][0]["Placement"]["AvailabilityZone"]

    def user_data(self, instance_id: str) -> bytes | None:
        import base64

        attr = self.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
        encoded = attr.get("UserData", {}).get("Value")
        return base64.b64decode(encoded) if encoded else None

    def role(self, instance_id: str) -> tuple[str, str] | None:
        """The (name, ARN) of the role of the instance's profile, or None without one."""
        found = self.ec2.describe_iam_instance_profile_associations(
            Filters=[{"Name": "instance-id", "Values": [instance_id]}]
        )["IamInstanceProfileAssociations"]
        current = [a for a in found if a.get("State") in (None, "associating", "associated")]
        if not current:
            return None
        profile = current[0]["IamInstanceProfile"]["Arn"].rsplit("/", 1)[-1]
        roles = self.iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]
        if not roles["Roles"]:
            return None
        return roles["Roles"][0]["RoleName"], roles["Roles"][0]["Arn"]

    def credentials(self, instance_id: str) -> Credentials | None:
        now = datetime.datetime.now(datetime.UTC)
        with self._lock:
            cached = self._keys.get(instance_id)
            # Answered from memory while fresh: botocore gives IMDS one second.
            if (
                cached is not None
                and time.monotonic() - self._checked.get(instance_id, -1e9) < ROLE_RECHECK
                and (cached.expiration - now).total_seconds() > REFRESH_BEFORE
            ):
                return cached
            role = self.role(instance_id)
            self._checked[instance_id] = time.monotonic()
            if role is None:
                self._keys.pop(instance_id, None)
                return None
            fresh = cached is not None and cached.role == role[0]
            if fresh and (cached.expiration - now).total_seconds() > REFRESH_BEFORE:
                return cached
            got = self.sts.assume_role(
                RoleArn=role[1], RoleSessionName=instance_id, DurationSeconds=CREDENTIAL_SECONDS
            )["Credentials"]
            keys = Credentials(
                role=role[0],
                access_key_id=got["AccessKeyId"],
                secret_access_key=got["SecretAccessKey"],
                token=got["SessionToken"],
                expiration=got["Expiration"].astimezone(datetime.UTC),
                updated=now,
            )
            self._keys[instance_id] = keys
            return keys


class Tokens:
    """IMDSv2 session tokens of one host, each with its own lifetime."""

    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, ttl: int) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            self._expiry = {t: e for t, e in self._expiry.items() if e > now}
            self._expiry[token] = now + ttl
        return token

    def valid(self, token: str | None) -> bool:
        with self._lock:
            return bool(token) and self._expiry.get(token or "", 0.0) > time.monotonic()


def _listener(namespace: str | None, port: int, address: str = METADATA_IP) -> socket.socket:
    """A listening socket on address:port inside `namespace`."""
    sock = socket_in(namespace)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(64)
    except BaseException:
        sock.close()
        raise
    return sock


class _Server(ThreadingHTTPServer):
    """An HTTP server on a socket made elsewhere (in a lab's router namespace). HTTPServer's own
    bind would look the address up in DNS; this one skips it."""

    daemon_threads = True

    def __init__(self, sock: socket.socket, handler: type[BaseHTTPRequestHandler]) -> None:
        socketserver.BaseServer.__init__(self, sock.getsockname(), handler)
        self.socket = sock
        self.server_name, self.server_port = METADATA_IP, sock.getsockname()[1]


Who = Callable[[str], "tuple[str, str] | None"]  # source address -> (instance id, its IP)


class MetadataService:
    """IMDSv2 for the instances of one lab, told apart by their source address."""

    def __init__(self, listen: socket.socket, who: Who, facts: InstanceFacts) -> None:
        """Serves on `listen` (bound and listening: the router's 169.254.169.254:80)."""
        self.who, self.facts = who, facts
        self.tokens: dict[str, Tokens] = {}  # by instance: a token is good for its issuer only
        self._server = _Server(listen, self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def tokens_of(self, instance_id: str) -> Tokens:
        return self.tokens.setdefault(instance_id, Tokens())

    def answer(self, instance: tuple[str, str], path: str) -> tuple[int, str, str]:
        """(status, content type, body) for a GET of `path` with a valid token."""
        (iid, private_ip), facts = instance, self.facts
        path = path.split("?", 1)[0]
        if path == "/latest/user-data":
            data = facts.user_data(iid)
            return (200, "application/octet-stream", data.decode("latin-1")) if data else _404()
        if not path.startswith("/latest/meta-data/"):
            return _404()
        key = path.removeprefix("/latest/meta-data/")
        simple = {
            "instance-id": lambda: iid,
            "local-ipv4": lambda: private_ip,
            "placement/region": lambda: facts.region,
            "placement/availability-zone": lambda: facts.availability_zone(iid),
        }
        if key in simple:
            return 200, "text/plain", simple[key]()
        if key == "":
            return 200, "text/plain", "\n".join(["iam/", "instance-id", "local-ipv4", "placement/"])
        if key.startswith("iam/security-credentials"):
            keys = facts.credentials(iid)
            name = key.removeprefix("iam/security-credentials").strip("/")
            if keys is None or name not in ("", keys.role):
                return _404()
            if not name:
                return 200, "text/plain", keys.role
            return 200, "application/json", json.dumps(keys.document(), indent=2)
        return _404()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # An answer leaves in two writes: without this its body waits for the client's
            # delayed ACK of the headers, 40 ms (as in `passthrough`).
            disable_nagle_algorithm = True

            def _send(self, status: int, kind: str, body: str) -> None:
                data = body.encode("latin-1")
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
                size = int(self.headers.get("Content-Length") or 0)
                if size:
                    self.rfile.read(size)
                if self.path != "/latest/api/token":
                    return self._send(*_404())
                # As on AWS: a request that went through a proxy gets no token.
                if self.headers.get("X-Forwarded-For"):
                    return self._send(403, "text/plain", "Forbidden")
                try:
                    ttl = int(self.headers.get(TOKEN_TTL_HEADER) or "")
                except ValueError:
                    ttl = 0
                if not 1 <= ttl <= MAX_TOKEN_TTL:
                    return self._send(400, "text/plain", "Bad Request")
                instance = service.who(self.client_address[0])
                if instance is None:
                    return self._send(*_404())
                return self._send(200, "text/plain", service.tokens_of(instance[0]).issue(ttl))

            def do_GET(self) -> None:  # noqa: N802
                instance = service.who(self.client_address[0])
                token = self.headers.get(TOKEN_HEADER)
                if instance is None or not service.tokens_of(instance[0]).valid(token):
                    return self._send(401, "text/plain", "Unauthorized")
                try:
                    return self._send(*service.answer(instance, self.path))
                except Exception as exc:  # the control plane restarting: say so, stay up
                    log.warning("imds %s: %s", instance[0], exc)
                    return self._send(500, "text/plain", "Internal Server Error")

            def log_message(self, *_: object) -> None:
                pass

        return Handler


def _404() -> tuple[int, str, str]:
    return 404, "text/plain", "Not Found"


def door_screen() -> Callable[[Request], Answer | None]:
    """The pass-through's screen for one host: moto's own API is not AWS's, so it is
    refused; every other request goes on, stamped with the host (see `moto_main`)."""

    def screen(request: Request) -> Answer | None:
        if request.path.startswith(("/moto-api", "/vpclab-api")):
            body = (
                "<Response><Errors><Error><Code>AccessDenied</Code><Message>the control "
                "plane's own API is not for hosts</Message></Error></Errors>"
                "<RequestID>local</RequestID></Response>"
            )
            return Answer(403, body.encode())
        return None

    return screen


@dataclass
class LabServices:
    metadata: MetadataService
    door: Passthrough
    hosts: dict[str, tuple[str, str]]  # source address -> (instance id, private IP)

    def stop(self) -> None:
        self.metadata.stop()
        self.door.stop()


class Metadata:
    """The metadata service and door of every lab the agent runs, by router namespace."""

    def __init__(self, facts: InstanceFacts, endpoint: str) -> None:
        self.facts, self.endpoint = facts, endpoint
        self._labs: dict[str, LabServices] = {}

    def ensure(self, router_ns: str, hosts: dict[str, str]) -> None:
        """Serve the lab whose router is `router_ns` (once), for `hosts` (private IP ->
        instance id, updated on every call)."""
        wanted = {ip: (iid, ip) for ip, iid in hosts.items()}
        current = self._labs.get(router_ns)
        if current is not None:
            current.hosts.clear()
            current.hosts.update(wanted)
            return
        netns.batch(router_ns, ["link set lo up"])
        netns.run(["ip", "-n", router_ns, "addr", "replace", f"{METADATA_IP}/32", "dev", "lo"])
        table: dict[str, tuple[str, str]] = dict(wanted)
        metadata = MetadataService(_listener(router_ns, METADATA_PORT), table.get, self.facts)
        try:
            door = Passthrough(
                self.endpoint,
                door_screen(),
                listen=_listener(router_ns, CONTROL_PLANE_PORT),
                stamp=lambda client: {HOST_HEADER: table.get(client, ("unknown", ""))[0]},
            ).start()
        except BaseException:
            metadata.stop()
            raise
        self._labs[router_ns] = LabServices(metadata, door, table)
        log.info("%s: metadata service and control-plane door up", router_ns)

    def remove(self, router_ns: str) -> None:
        found = self._labs.pop(router_ns, None)
        if found is not None:
            found.stop()

    def close(self) -> None:
        for router_ns in list(self._labs):
            self.remove(router_ns)
