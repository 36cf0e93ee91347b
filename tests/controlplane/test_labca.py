"""The lab CA and the web server's certificate (vpclab.labca): what they name, how long they
last, that the keys are 0600 from the start, that a TLS client trusting the CA alone accepts
the server for its names and refuses it for others, and when the certificate is issued
again."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from vpclab import labca
from vpclab.errors import VpclabError

NAMES = ["198.51.100.23", "ec2-198-51-100-23.compute-1.amazonaws.com", "127.0.0.1"]


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("VPCLAB_STATE", raising=False)
    path = tmp_path / "lab.toml"
    path.write_text("")
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_server_certificate_names_the_web_server_and_chains_to_the_ca(spec):
    issued = labca.ensure_server_cert("demo", NAMES, spec)
    f = labca.files("demo", spec)
    assert f.ca_cert.parent == spec.parent / ".vpclab" / "labs" / "demo" / "tls"
    cert = x509.load_pem_x509_certificate(issued.cert_pem.encode())
    ca = x509.load_pem_x509_certificate(f.ca_cert.read_bytes())
    assert sorted(labca.san_names(cert)) == sorted(NAMES)
    cert.verify_directly_issued_by(ca)  # raises when it is not signed by the lab CA
    ca_basic = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert ca_basic.ca and ca_basic.path_length == 0
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # Only the CA may sign certificates; both sign (TLS handshakes, the CA its certificates).
    ca_keys = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    server_keys = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ca_keys.key_cert_sign and ca_keys.crl_sign and ca_keys.digital_signature
    assert not server_keys.key_cert_sign and not server_keys.crl_sign
    assert server_keys.digital_signature
    assert ca.not_valid_after_utc - ca.not_valid_before_utc > dt.timedelta(days=3000)
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in usage
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime <= dt.timedelta(days=398)  # browsers refuse longer ones
    assert cert.not_valid_before_utc <= dt.datetime.now(dt.UTC) < cert.not_valid_after_utc


def test_private_keys_are_0600_and_the_certificates_readable(spec):
    labca.ensure_server_cert("demo", NAMES, spec)
    f = labca.files("demo", spec)
    assert _mode(f.ca_key) == 0o600 and _mode(f.server_key) == 0o600
    assert _mode(f.ca_cert) == 0o644
    assert _mode(f.ca_key.parent) == 0o700
    assert b"PRIVATE KEY" in f.server_key.read_bytes()
    assert b"PRIVATE KEY" not in f.ca_cert.read_bytes()


def test_a_second_call_keeps_the_certificate_and_new_names_issue_a_new_one(spec):
    first = labca.ensure_server_cert("demo", NAMES, spec)
    again = labca.ensure_server_cert("demo", list(reversed(NAMES)), spec)
    assert first.issued and not again.issued
    assert (again.cert_pem, again.key_pem) == (first.cert_pem, first.key_pem)
    moved = labca.ensure_server_cert("demo", ["198.51.100.40", "127.0.0.1"], spec)
    assert moved.issued and moved.key_pem != first.key_pem
    cert = x509.load_pem_x509_certificate(moved.cert_pem.encode())
    assert sorted(labca.san_names(cert)) == ["127.0.0.1", "198.51.100.40"]


def test_a_certificate_of_another_ca_is_issued_again(spec):
    first = labca.ensure_server_cert("demo", NAMES, spec)
    f = labca.files("demo", spec)
    f.ca_key.unlink()  # the CA is made anew: the old certificate no longer chains to it
    second = labca.ensure_server_cert("demo", NAMES, spec)
    assert second.issued and second.cert_pem != first.cert_pem
    ca = x509.load_pem_x509_certificate(f.ca_cert.read_bytes())
    x509.load_pem_x509_certificate(second.cert_pem.encode()).verify_directly_issued_by(ca)


def test_no_names_is_a_one_line_error(spec):
    with pytest.raises(VpclabError, match="no public address"):
        labca.ensure_server_cert("demo", [], spec)


def test_without_a_ca_the_client_context_says_how_to_make_it(spec):
    with pytest.raises(VpclabError) as err:
        labca.client_context("demo", spec)
    assert "vpclab up --through nginx" in (err.value.fix or "")


@pytest.fixture
def tls_server(spec: Path) -> Iterator[int]:
    """A TLS server on loopback with the web server's certificate, answering one line."""
    labca.ensure_server_cert("demo", NAMES, spec)
    f = labca.files("demo", spec)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(f.server_cert, f.server_key)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.sendall(b"hello\n")
            except (OSError, ssl.SSLError):
                pass  # a client that refused our certificate

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()


def _hello(port: int, name: str, context: ssl.SSLContext) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=name) as tls:
            return tls.recv(16)


@pytest.mark.parametrize("name", NAMES)
def test_a_client_trusting_only_the_lab_ca_accepts_each_name(spec, tls_server, name):
    assert _hello(tls_server, name, labca.client_context("demo", spec)) == b"hello\n"


def test_a_client_refuses_a_name_the_certificate_does_not_hold(spec, tls_server):
    with pytest.raises(ssl.SSLCertVerificationError, match="match|mismatch"):
        _hello(tls_server, "198.51.100.99", labca.client_context("demo", spec))


def test_a_client_with_the_system_store_only_refuses_the_lab_ca(tls_server):
    context = ssl.create_default_context(cafile=None, capath="/nonexistent")
    with pytest.raises(ssl.SSLCertVerificationError):
        _hello(tls_server, "127.0.0.1", context)
