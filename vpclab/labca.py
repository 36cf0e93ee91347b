"""The lab's own certificate authority, and the web server's certificate it signs.

`vpclab up` makes one CA per lab (the `cryptography` package), kept in the git-ignored state
folder: `labs/<lab>/tls/ca.key` (0600), `ca.crt` (what a user trusts: `curl --cacert`, a
browser's store), and the server's key (0600) and certificate. The server certificate names
the web server's public address and public DNS name (and 127.0.0.1 on the local target,
where the site is also published on a localhost port). It is issued again when the names
change, when it nears its end, or when it was not signed by the current CA.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vpclab.errors import VpclabError
from vpclab.paths import lab_dir, write_private

CA_DAYS = 3650
SERVER_DAYS = 397  # the longest browsers accept for a server certificate
RENEW_DAYS = 30  # issue again when fewer days than this are left


@dataclass(frozen=True)
class Files:
    ca_key: Path
    ca_cert: Path
    server_key: Path
    server_cert: Path


@dataclass(frozen=True)
class ServerCert:
    """The web server's key and certificate (PEM), and whether they were issued just now."""

    key_pem: str
    cert_pem: str
    issued: bool


def tls_dir(lab: str, spec_path: Path | None = None) -> Path:
    return lab_dir(lab, spec_path) / "tls"


def files(lab: str, spec_path: Path | None = None) -> Files:
    d = tls_dir(lab, spec_path)
    return Files(d / "ca.key", d / "ca.crt", d / "server.key", d / "server.crt")


def ca_cert_path(lab: str, spec_path: Path | None = None) -> Path:
    """Where the CA certificate a user trusts is (it may not exist yet)."""
    return files(lab, spec_path).ca_cert


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise VpclabError(
            f"{path.name} is not an EC key", f"remove {path.parent} and run 'vpclab up'"
        )
    return key


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, days: int, *, ca: bool
) -> x509.CertificateBuilder:
    """What the CA and the server certificate share: names, key, a fresh serial, `days` of
    validity (from five minutes ago, for clocks a little behind), and whether it may sign
    certificates (BasicConstraints and KeyUsage)."""
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )


def ensure_ca(
    lab: str, spec_path: Path | None = None
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The lab's CA key and certificate, made on first use (the key 0600 from its first byte)."""
    f = files(lab, spec_path)
    if f.ca_key.exists() and f.ca_cert.exists():
        cert = x509.load_pem_x509_certificate(f.ca_cert.read_bytes())
        if cert.not_valid_after_utc - _now() > dt.timedelta(days=RENEW_DAYS):
            f.ca_key.chmod(0o600)
            return _load_key(f.ca_key), cert
    f.ca_key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vpclab"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"vpclab lab CA ({lab})"),
        ]
    )
    cert = (
        _builder(name, name, key, CA_DAYS, ca=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(f.ca_key, _key_pem(key))
    f.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    f.ca_cert.chmod(0o644)
    # A new CA: the old server certificate no longer chains to it.
    f.server_cert.unlink(missing_ok=True)
    return key, cert


def _general_names(names: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):  # keep order, drop repeats
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def san_names(cert: x509.Certificate) -> list[str]:
    """The names a certificate's subjectAltName holds (addresses and DNS names), as text."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(n) for n in san.get_values_for_type(x509.IPAddress)] + list(
        san.get_values_for_type(x509.DNSName)
    )


def _still_good(cert: x509.Certificate, ca: x509.Certificate, names: list[str]) -> bool:
    if sorted(san_names(cert)) != sorted(dict.fromkeys(names)):
        return False
    if cert.not_valid_after_utc - _now() <= dt.timedelta(days=RENEW_DAYS):
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def ensure_server_cert(lab: str, names: list[str], spec_path: Path | None = None) -> ServerCert:
    """The web server's key and certificate for `names` (addresses or DNS names), signed by
    the lab CA; kept as long as they still fit, issued again otherwise."""
    if not names:
        raise VpclabError("the web server has no public address to certify", "run 'vpclab up'")
    ca_key, ca_cert = ensure_ca(lab, spec_path)
    f = files(lab, spec_path)
    if f.server_key.exists() and f.server_cert.exists():
        cert = x509.load_pem_x509_certificate(f.server_cert.read_bytes())
        if _still_good(cert, ca_cert, names):
            f.server_key.chmod(0o600)
            return ServerCert(f.server_key.read_text(), f.server_cert.read_text(), False)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        _builder(subject, ca_cert.subject, key, SERVER_DAYS, ca=False)
        .add_extension(x509.SubjectAlternativeName(_general_names(names)), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = _key_pem(key).decode()
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    write_private(f.server_key, key_pem)
    f.server_cert.write_text(cert_pem)
    return ServerCert(key_pem, cert_pem, True)


def client_context(lab: str, spec_path: Path | None = None) -> ssl.SSLContext:
    """A TLS client context that trusts the lab CA only, hostnames checked."""
    path = ca_cert_path(lab, spec_path)
    if not path.exists():
        raise VpclabError(
            f"no lab CA in the state folder ({path.name} missing)",
            "run 'vpclab up --through nginx', which makes the lab CA and the web server's "
            "certificate",
        )
    return ssl.create_default_context(cafile=str(path))
