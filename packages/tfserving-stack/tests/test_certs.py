"""`certs`: a CA, a server certificate valid for the given names, TF Serving's SSLConfig, and API
keys; a second run keeps what is there (clients keep working), --force makes new ones."""

from __future__ import annotations

import pytest

from tfserving_stack.certs import nginx_key_map, write_certs
from tfserving_stack.errors import StackError


def test_certificates_verify_against_their_ca_and_are_kept_on_a_rerun(tmp_path) -> None:
    from cryptography import x509

    files = write_certs(tmp_path / "certs", ("localhost", "127.0.0.1", "tfserving"), days=30)
    ca = x509.load_pem_x509_certificate(files["ca.pem"].read_bytes())
    server = x509.load_pem_x509_certificates(files["server.pem"].read_bytes())[0]
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == {"localhost", "tfserving"}
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert files["ca-key.pem"].stat().st_mode & 0o777 == 0o600
    assert "server_cert:" in files["ssl_config.txt"].read_text()
    key = files["api_keys.txt"].read_text().splitlines()[-1]
    assert f'"{key}" 1;' in files["api_keys.map"].read_text()

    before = {name: path.read_bytes() for name, path in files.items()}
    again = write_certs(tmp_path / "certs", ("localhost",), days=30)
    assert {name: path.read_bytes() for name, path in again.items()} == before
    forced = write_certs(tmp_path / "certs", ("localhost",), days=30, force=True)
    assert forced["ca.pem"].read_bytes() != before["ca.pem"]
    assert forced["api_keys.txt"].read_bytes() == before["api_keys.txt"]  # keys survive --force


def test_a_key_nginx_cannot_match_literally_is_refused() -> None:
    with pytest.raises(StackError, match="characters nginx cannot match literally"):
        nginx_key_map(['has"quote'])
