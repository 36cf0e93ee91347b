"""moto's server, with a recorder fit for a long-lived lab.

moto's recorder logs every request, and every request (reads too) draws from moto's random
generator, so a replay reproduces ids only if every read is replayed as well. The agent
polls twice a second, so that log would grow without end. Here the recorder keeps only the
requests that change something, and the generator is re-seeded before each of them from a
count of mutations: replaying the mutations alone then gives every resource its old id.

Run as: python -m vpclab.localcloud.moto_main -H 127.0.0.1 -p PORT
"""

from __future__ import annotations

import io
import itertools
import re
import sys
import urllib.parse

from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from moto.moto_api import recorder
from moto.moto_api._internal import mock_random
from moto.server import main as moto_server_main

from vpclab.aws.session import is_mutating

SEED = 4242


def action_of(headers: dict, method: str, body: bytes, url: str) -> str:
    """The API action of a request: JSON protocols name it in X-Amz-Target, query protocols
    in the Action parameter; for REST protocols the method tells reads apart."""
    target = headers.get("X-Amz-Target", "")
    if target:
        return target.rsplit(".", 1)[-1]
    query = urllib.parse.urlsplit(url).query
    params = urllib.parse.parse_qs(query + "&" + body.decode("utf-8", "replace"))
    if "Action" in params:
        return params["Action"][0]
    return "Get" if method in ("GET", "HEAD") else method


_record = recorder._record_request
_mutations = itertools.count()
_regions_ready: set[str] = set()


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
    if not is_mutating(action_of(dict(request.headers), request.method, raw, request.raw_url)):
        return
    mock_random.seed(SEED * 1_000_003 + next(_mutations))
    _record(request, body)  # records only while recording is on; a replay is not recorded


def main() -> None:
    mock_random.seed(SEED)
    recorder._record_request = _record_mutations
    moto_server_main(sys.argv[1:])


if __name__ == "__main__":
    main()
