"""`certs`: a local CA, a server certificate and API keys for the secure setup, into certs/.

Everything a TLS + API-key deployment needs on one machine or a workshop network; for production,
use certificates from your own CA. Existing files are kept (so clients keep working) unless --force;
the nginx key map is always rewritten from api_keys.txt.
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
from pathlib import Path
from typing import Any

from embedded_tfserving.auth import read_api_keys

from .errors import StackError

# Names the server certificate is valid for: loopback, and the compose services clients may address.
DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1", "tfserving", "tfserving-secure", "proxy")


def _key() -> Any:  # cryptography's EllipticCurvePrivateKey
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_cert(cert: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _alt_names(hosts: tuple[str, ...]) -> list[Any]:
    from cryptography import x509

    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def make_ca(days: int) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) of a self-signed CA that may sign server certificates only."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "model serving local CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return _pem_cert(cert), _pem_key(key)


def make_server_cert(ca_pem: bytes, ca_key_pem: bytes, hosts: tuple[str, ...], days: int) -> tuple[bytes, bytes]:
    """(certificate chain PEM: server then CA, key PEM) valid for `hosts` (DNS names or IPs)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca = x509.load_pem_x509_certificate(ca_pem)
    ca_key, ca_public = serialization.load_pem_private_key(ca_key_pem, password=None), ca.public_key()
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey) or not isinstance(ca_public, ec.EllipticCurvePublicKey):
        raise StackError("the CA in certs/ is not one `certs` made (EC P-256): run `make certs` with --force")
    key = _key()
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(_alt_names(hosts)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return _pem_cert(cert) + ca_pem, _pem_key(key)


def ssl_config_text(cert_chain: bytes, key: bytes) -> str:
    """TF Serving's SSLConfig text proto (PEMs inline) for --ssl_config_file."""
    from embedded_tfserving.config import SSLConfig
    from google.protobuf import text_format

    return text_format.MessageToString(SSLConfig(server_cert=cert_chain.decode(), server_key=key.decode()))


def nginx_key_map(keys: list[str]) -> str:
    """Entries for nginx's `map $presented_key $api_key_ok { ... }` (see compose/nginx.conf)."""
    for key in keys:
        if not key.isprintable() or any(c in key for c in ' "\';\\{}$'):
            raise StackError(f"API key {key[:4]}... has characters nginx cannot match literally; "
                                       "use letters, digits, '-' and '_'")
    return "# Generated by `make certs` from api_keys.txt: one allowed key per line.\n" + \
        "".join(f'"{key}" 1;\n' for key in keys)


def write_certs(out: Path, hosts: tuple[str, ...] = DEFAULT_HOSTS, days: int = 365, force: bool = False) -> dict[str, Path]:
    """Create what is missing under `out` (everything with force); returns the files by role."""
    out.mkdir(parents=True, exist_ok=True)
    files = {name: out / name for name in ("ca.pem", "ca-key.pem", "server.pem", "server-key.pem",
                                            "ssl_config.txt", "api_keys.txt", "api_keys.map")}

    def write(name: str, data: bytes, private: bool = False) -> None:
        files[name].write_bytes(data)
        if private:
            files[name].chmod(0o600)

    if force or not files["ca.pem"].exists() or not files["ca-key.pem"].exists():
        ca_pem, ca_key = make_ca(days * 3)
        write("ca.pem", ca_pem)
        write("ca-key.pem", ca_key, private=True)
        force = True  # a new CA needs a new server certificate
    if force or not files["server.pem"].exists() or not files["server-key.pem"].exists():
        chain, key = make_server_cert(files["ca.pem"].read_bytes(), files["ca-key.pem"].read_bytes(), hosts, days)
        write("server.pem", chain)
        # Read by the proxy and TF Serving containers, which run as other users: not 0600.
        write("server-key.pem", key)
        write("ssl_config.txt", ssl_config_text(chain, key).encode())
    if not files["api_keys.txt"].exists() or not read_api_keys(files["api_keys.txt"]):
        write("api_keys.txt", f"# One API key per line; clients send one.\n{secrets.token_urlsafe(32)}\n".encode(),
              private=False)
    write("api_keys.map", nginx_key_map(read_api_keys(files["api_keys.txt"])).encode())
    return files
