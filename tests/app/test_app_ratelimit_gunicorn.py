"""The login limit holds across gunicorn workers: they share one memcached."""

from __future__ import annotations

import http.client
import re
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.app.microblog_helpers import CSRF_RE, Server
from tests.app.services import Service

pytestmark = pytest.mark.slow

LIMIT = 4
ACCESS_LINE = re.compile(r'^(\S+) \S+ "POST /auth/login HTTP/1.1" (\d{3}) .* pid=<(\d+)>$', re.M)


def login_attempt(port: int, name: str, client_address: str) -> int:
    """One login through the real form, on fresh connections; the POST's status."""
    headers = {"X-Forwarded-For": client_address}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/auth/login", headers=headers)
        page = conn.getresponse()
        html = page.read().decode()
        cookie = page.getheader("Set-Cookie", "").split(";", 1)[0]
    finally:
        conn.close()
    match = CSRF_RE.search(html)
    assert match, html[:200]
    body = f"csrf_token={match.group(1)}&username={name}&password=wrong+password"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            "POST",
            "/auth/login",
            body=body,
            headers={
                **headers,
                "Cookie": cookie,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def burst(port: int, client_address: str, attempts: int = 12, threads: int = 4) -> list[int]:
    """Parallel attempts, so both sync workers take some of them."""
    statuses: list[int] = []
    lock = threading.Lock()

    def run(offset: int) -> None:
        for i in range(offset, attempts, threads):
            status = login_attempt(port, f"nobody{i}", client_address)
            with lock:
                statuses.append(status)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    return statuses


def served_by(log: str, client_address: str) -> list[tuple[int, str]]:
    """(status, worker pid) of each login POST from one client, in log order."""
    return [
        (int(status), pid)
        for address, status, pid in ACCESS_LINE.findall(log)
        if address == client_address
    ]


def test_login_limit_is_shared_by_two_workers(
    gunicorn_factory: Callable[..., Server], memcached: Service, tmp_path: Path
) -> None:
    server = gunicorn_factory(
        workers=2,
        RATELIMIT_STORAGE_URI=f"memcached://127.0.0.1:{memcached.port}",
        LOGIN_LIMIT_PER_ADDRESS=f"{LIMIT} per minute",
        LOGIN_LIMIT_PER_ACCOUNT="100 per minute",
    )
    # Each round is another client address, so another fresh budget; a round counts once
    # both workers answered some of its attempts (bounded: a few rounds at most).
    for round_number in range(1, 6):
        address = f"198.51.100.{round_number}"
        statuses = burst(server.port, address)
        assert 500 not in statuses
        assert sum(status != 429 for status in statuses) == LIMIT, statuses
        lines = served_by(server.log(), address)
        if len({pid for _, pid in lines}) >= 2:
            break
    else:
        pytest.fail("every attempt reached the same worker; cannot show the limit is shared")

    # Evidence the budget is shared: a worker refused while it had itself allowed fewer than
    # LIMIT attempts, which only happens when it counts the other worker's attempts too.
    allowed = Counter(pid for status, pid in lines if status != 429)
    refused_by = {pid for status, pid in lines if status == 429}
    assert any(allowed[pid] < LIMIT for pid in refused_by), lines

    # memcached goes away: login keeps working on in-memory limits instead of failing.
    memcached.stop()
    assert login_attempt(server.port, "alice", "198.51.100.99") == 200
    assert "Traceback" not in server.log()
