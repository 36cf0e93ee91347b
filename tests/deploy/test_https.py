"""HTTPS at the proxy, on the shared whole lab: the microblog URL `vpclab up` prints is
HTTPS, `curl -k` and a client trusting only the lab CA both get the page, port 80 answers
only with a redirect, HSTS and the Secure session cookie are there, the certificate names
the web server, and a headless Chromium whose certificate store trusts the lab CA (an NSS
database made with certutil, nothing ignored) loads the microblog, while one without it
refuses."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.conftest import DeployLab
from vpclab import remote
from vpclab.checklist import Status
from vpclab.facts import app_deploy, nginx_site
from vpclab.steps import BUILT, nginx

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def up(deployed: DeployLab) -> DeployLab:
    return deployed


def _curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["curl", "-sS", "--max-time", "15", *args], capture_output=True, text=True, timeout=30
    )


def test_the_microblog_url_is_https_and_curl_k_gets_the_page(up: DeployLab):
    assert up.url.startswith("https://127.0.0.1:")
    done = _curl("-k", "-o", "/dev/null", "-w", "%{scheme} %{http_code}", up.url + "explore")
    assert done.stdout == "HTTPS 200", done.stderr


def test_curl_with_the_lab_ca_verifies_and_without_it_refuses(up: DeployLab):
    page = up.url + "explore"
    trusted = _curl("--cacert", up.ca, "-o", "/dev/null", "-w", "%{http_code}", page)
    assert trusted.returncode == 0 and trusted.stdout == "200", trusted.stderr
    bare = _curl(page)  # the system store only
    assert bare.returncode == 60, (bare.returncode, bare.stderr)  # 60: peer not verified


def test_the_certificate_verifies_with_the_lab_ca_for_the_public_address_and_name(up):
    ctx = up.lab().context()
    web = remote.where(ctx, "web")
    dns = ctx.state().instances["web"].get("PublicDnsName")
    names = [web.public_ip] + ([dns] if dns else [])
    assert names == nginx.cert_names(ctx)[: len(names)]
    for name in names:
        sock = remote.connect(ctx, web.public_ip, ctx.spec.ports.https)
        with up.tls().wrap_socket(sock, server_hostname=name) as conn:
            assert conn.version() in ("TLSv1.2", "TLSv1.3")
    sock = remote.connect(ctx, web.public_ip, ctx.spec.ports.https)
    with pytest.raises(ssl.SSLCertVerificationError):
        up.tls().wrap_socket(sock, server_hostname="198.51.100.1").close()


def test_port_80_answers_only_301_to_https(up: DeployLab):
    ctx = up.lab().context()
    web = remote.where(ctx, "web")
    for path in ("/", "/explore?page=2", "/auth/login"):
        reply = remote.http_get(ctx, web.public_ip, ctx.spec.ports.http, path)
        assert reply.status == 301, (path, reply.status)
        assert reply.headers["location"] == f"https://{web.public_ip}{path}"
        assert "microblog" not in reply.body.lower()  # no page of the app over plain HTTP


def test_hsts_on_the_app_and_on_nginx_own_pages(up: DeployLab):
    ctx = up.lab().context()
    for path in ("/explore", "/metrics"):
        reply = remote.site_get(ctx, path)
        assert reply.headers.get("strict-transport-security") == (
            f"max-age={nginx.HSTS_MAX_AGE}"
        ), (path, reply.headers)
        assert reply.headers.get("server") == "nginx"


def test_the_session_cookie_is_secure(up: DeployLab):
    reply = remote.site_get(up.lab().context(), "/auth/login")
    cookie = reply.headers["set-cookie"]
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "secure" in flags and "httponly" in flags, cookie


def test_the_https_checks_pass(up: DeployLab):
    results = {r.id: r for r in up.lab().verify(step="nginx")}
    results |= {r.id: r for r in up.lab().verify(step="scripts")}
    for check_id in (
        "nginx.http_redirects_to_https",
        "nginx.certificate_trusted",
        "nginx.hsts",
        "nginx.own_pages_hardened",
        "scripts.session_cookie_secure",
    ):
        assert results[check_id].status is Status.PASS, results[check_id]


# --- a browser that trusts the lab CA ---------------------------------------------------


def _nss_home(folder: Path, ca: str | None) -> Path:
    """A home folder whose NSS database (what Chromium on Linux trusts besides its own root
    store) holds the lab CA as a trusted authority, or nothing."""
    db = folder / ".pki" / "nssdb"
    db.mkdir(parents=True)
    certutil = shutil.which("certutil")
    subprocess.run([certutil, "-d", f"sql:{db}", "-N", "--empty-password"], check=True)
    if ca:
        subprocess.run(
            [certutil, "-d", f"sql:{db}", "-A", "-n", "vpclab lab CA", "-t", "C,,", "-i", ca],
            check=True,
        )
        listed = subprocess.run(
            [certutil, "-d", f"sql:{db}", "-L"], capture_output=True, text=True, check=True
        )
        assert "vpclab lab CA" in listed.stdout
    return folder


@pytest.fixture
def chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Start headless Chromium with a given home (its NSS database); quit them all after."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            pytest.skip(f"{path} is not installed (apt-get install chromium chromium-driver)")
    if shutil.which("certutil") is None:
        pytest.skip("certutil is not installed (apt-get install libnss3-tools)")
    monkeypatch.setenv("SE_OFFLINE", "true")  # selenium-manager must never download
    drivers = []

    def start(home: Path):
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={home / 'profile'}",
        ):
            options.add_argument(flag)
        env = {**os.environ, "HOME": str(home)}
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER, env=env), options=options)
        driver.set_page_load_timeout(30)
        drivers.append(driver)
        return driver

    try:
        yield start
    finally:
        for driver in drivers:
            driver.quit()


def _fill(browser, form_id: str, **fields: str) -> None:
    from selenium.webdriver.common.by import By

    form = browser.find_element(By.ID, form_id)
    for name, value in fields.items():
        form.find_element(By.NAME, name).send_keys(value)
    form.find_element(By.CSS_SELECTOR, "[type=submit]").click()


def _wait_for_text(browser, text: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 15).until(
        lambda d: text in d.execute_script("return document.body ? document.body.innerText : ''")
    )


def test_a_browser_trusting_the_lab_ca_loads_the_microblog_and_logs_in(up, chromium, tmp_path):
    browser = chromium(_nss_home(tmp_path / "trusting", up.ca))
    browser.get(up.url + "explore")
    assert browser.execute_script("return location.protocol") == "https:"
    assert "microblog" in browser.title.lower(), browser.title
    # Register and log in over HTTPS: the forms' CSRF check (same-origin Referer over HTTPS)
    # passes, and the session cookie the browser keeps is Secure.
    name = f"tls{uuid.uuid4().hex[:8]}"
    browser.get(up.url + "auth/register")
    _fill(
        browser,
        "register-form",
        username=name,
        email=f"{name}@example.com",
        password="a long passphrase",
        password2="a long passphrase",
    )
    _wait_for_text(browser, "You can log in now")
    _fill(browser, "login-form", username=name, password="a long passphrase")
    _wait_for_text(browser, f"Hello, {name}")
    cookies = {c["name"]: c for c in browser.get_cookies()}
    assert cookies["session"]["secure"] and cookies["session"]["httpOnly"], cookies


def test_a_browser_without_the_lab_ca_refuses_the_site(up, chromium, tmp_path):
    browser = chromium(_nss_home(tmp_path / "bare", None))
    browser.get(up.url + "explore")
    # Chromium shows its interstitial instead of the page: the certificate is not trusted.
    assert "microblog" not in browser.title.lower(), browser.title
    assert "ERR_CERT_AUTHORITY_INVALID" in browser.page_source


def test_the_published_port_speaks_tls_only(up: DeployLab):
    port = int(up.url.rsplit(":", 1)[1].strip("/"))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(b"GET / HTTP/1.0\r\n\r\n")
        answer = raw.recv(4096)
    assert b"400" in answer and b"HTTPS" in answer.upper()  # Nginx: plain HTTP to an HTTPS port


# --- break it: each fault is caught by its check, with a hint, and `up` mends it ----------


def _break_and_mend(up: DeployLab, role: str, breaks: str, step: str, check_id: str, hint: str):
    host = remote.open_role(up.lab().context(), role)
    try:
        host.run(breaks, sudo=True)
    finally:
        remote.close(host)
    broken = {r.id: r for r in up.lab().verify(step=step)}[check_id]
    assert broken.status is Status.FAIL, broken
    assert hint in broken.hint, broken.hint
    BUILT[step].apply(up.lab().context())
    mended = {r.id: r for r in up.lab().verify(step=step)}[check_id]
    assert mended.status is Status.PASS, mended


@pytest.mark.breaks
def test_a_site_without_hsts_is_caught(up: DeployLab):
    breaks = f"sed -i '/Strict-Transport-Security \"max-age/d' {nginx_site.SITE} && nginx -s reload"
    _break_and_mend(up, "web", breaks, "nginx", "nginx.hsts", "Strict-Transport-Security")


@pytest.mark.breaks
def test_port_80_serving_the_app_is_caught(up: DeployLab):
    breaks = (
        f"sed -i 's|return 301 https://.*;|proxy_pass http://microblog_app;|' {nginx_site.SITE}"
        " && nginx -s reload"
    )
    _break_and_mend(up, "web", breaks, "nginx", "nginx.http_redirects_to_https", "return 301")


@pytest.mark.breaks
def test_a_certificate_not_from_the_lab_ca_is_caught(up: DeployLab):
    breaks = (
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
        f"-subj /CN=impostor -keyout {nginx.TLS_KEY} -out {nginx.TLS_CERT} 2>/dev/null"
        " && nginx -s reload"
    )
    _break_and_mend(up, "web", breaks, "nginx", "nginx.certificate_trusted", "lab CA")


@pytest.mark.breaks
def test_a_session_cookie_without_secure_is_caught(up: DeployLab):
    breaks = (
        f"sed -i '/^SESSION_COOKIE_SECURE=/d' {app_deploy.ENV_FILE}"
        f" && supervisorctl restart {app_deploy.PROGRAM} >/dev/null"
    )
    _break_and_mend(
        up, "app", breaks, "scripts", "scripts.session_cookie_secure", "SESSION_COOKIE_SECURE=1"
    )
