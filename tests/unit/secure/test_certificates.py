"""The platform CA and its leaf certificates (pure builders, checked with cryptography),
the certificate generator's spec, and when a certificate is due for renewal."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from pydantic import ValidationError

from stackwright.core.kinds import DriverContext
from stackwright.core.model import Address, Recorded, Status
from stackwright.errors import PermanentError
from stackwright.secure.ca import (
    Authority,
    build_ca,
    build_leaf,
    ca_location,
    ca_subject,
    new_authority,
    serial_text,
)
from stackwright.secure.generate import Generate, generate, keys_of
from stackwright.secure.secret import SecretSpec, StoreSecretDriver

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def ca() -> Authority:
    return new_authority(ca_subject("shop", "dev"), NOW, timedelta(days=3650))


def _ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> Any:
    return cert.extensions.get_extension_for_class(kind)


def test_the_ca_is_a_self_signed_root_for_leaves_only(ca: Authority) -> None:
    cert = ca.certificate
    assert cert.subject.rfc4514_string() == "CN=Stackwright shop/dev CA"
    assert cert.issuer == cert.subject
    cert.verify_directly_issued_by(cert)
    constraints = _ext(cert, x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = _ext(cert, x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    assert cert.not_valid_before_utc == NOW - timedelta(minutes=1)
    assert cert.not_valid_after_utc == NOW + timedelta(days=3650)
    assert isinstance(ca.key, ec.EllipticCurvePrivateKey)


def test_building_is_a_pure_function_of_keys_and_times() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    one = build_ca(key, "Stackwright p/e CA", NOW, timedelta(days=1), 42)
    two = build_ca(key, "Stackwright p/e CA", NOW, timedelta(days=1), 42)
    assert one.tbs_certificate_bytes == two.tbs_certificate_bytes


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "ed25519", "rsa"])
def test_a_leaf_verifies_against_its_ca(ca: Authority, key_type: str) -> None:
    spec = Generate.model_validate({"certificate": {
        "commonName": "web.internal", "dnsNames": ["web", "*.web.internal"],
        "ipAddresses": ["127.0.0.1", "::1"], "ttl": "30d", "keyType": key_type,
        "bits": 2048}})
    values = generate(spec, ca, NOW)
    assert sorted(values) == sorted(keys_of(spec))
    leaf = x509.load_pem_x509_certificate(values["certificate"].encode())
    leaf.verify_directly_issued_by(ca.certificate)
    key = serialization.load_pem_private_key(values["private_key"].encode(), None)
    assert key.public_key() == leaf.public_key()
    assert values["private_key"].startswith("-----BEGIN PRIVATE KEY-----")  # PKCS8
    assert values["ca_chain"] == ca.certificate_pem()
    assert isinstance(key, {"ecdsa-p256": ec.EllipticCurvePrivateKey,
                            "ed25519": ed25519.Ed25519PrivateKey,
                            "rsa": rsa.RSAPrivateKey}[key_type])
    sans = _ext(leaf, x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["web.internal", "web", "*.web.internal"]
    assert sans.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    eku = _ext(leaf, x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    constraints = _ext(leaf, x509.BasicConstraints).value
    assert not constraints.ca
    assert _ext(leaf, x509.KeyUsage).value.key_encipherment == (key_type == "rsa")
    aki = _ext(leaf, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == _ext(ca.certificate, x509.SubjectKeyIdentifier).value.digest
    assert leaf.not_valid_before_utc == NOW - timedelta(minutes=1)
    assert leaf.not_valid_after_utc == NOW + timedelta(days=30)
    assert values["expires_at"] == "2026-03-31T12:00:00+00:00"
    assert values["serial"] == serial_text(leaf.serial_number)


def test_a_leaf_of_another_ca_does_not_verify(ca: Authority) -> None:
    # same subject, another key: only the signature tells them apart
    other = new_authority(ca_subject("shop", "dev"), NOW, timedelta(days=10))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = build_leaf(other, key.public_key(), "web", [], [], NOW, timedelta(days=1), 7)
    leaf.verify_directly_issued_by(other.certificate)
    with pytest.raises(InvalidSignature):
        leaf.verify_directly_issued_by(ca.certificate)


def test_an_ip_common_name_is_an_ip_san_and_names_are_not_repeated(ca: Authority) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = build_leaf(ca, key.public_key(), "10.0.0.5", ["a.internal", "a.internal"],
                      ["10.0.0.5"], NOW, timedelta(hours=1), 9)
    sans = _ext(leaf, x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["a.internal"]
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.5")]


def test_the_ca_round_trips_through_the_store_form(ca: Authority) -> None:
    stored = ca.to_store()
    back = Authority.from_store(stored, "secret/stackwright/ca/dev")
    assert back.certificate == ca.certificate
    other = new_authority("x", NOW, timedelta(days=1))
    with pytest.raises(PermanentError, match="does not match"):
        Authority.from_store({**stored, "private_key": other.to_store()["private_key"]}, "x")
    with pytest.raises(PermanentError, match="not a certificate and key"):
        Authority.from_store({"certificate": "junk"}, "secret/ca")


def test_certificate_specs_are_checked() -> None:
    def cert(**fields: object) -> Generate:
        return Generate.model_validate({"certificate": {"commonName": "web", **fields}})

    made = cert().certificate
    assert made is not None and made.keyType == "ecdsa-p256" and made.ttl == "30d"
    with pytest.raises(ValidationError, match="not a DNS name"):
        cert(dnsNames=["bad name"])
    with pytest.raises(ValidationError, match="not a DNS name"):
        Generate.model_validate({"certificate": {"commonName": "-web-"}})
    with pytest.raises(ValidationError, match="not an IP address"):
        cert(ipAddresses=["300.1.1.1"])
    with pytest.raises(ValidationError, match="not a period"):
        cert(ttl="a month")
    with pytest.raises(ValidationError, match="too short"):
        cert(ttl="5s")
    with pytest.raises(ValidationError, match="keyType"):
        cert(keyType="dsa")
    with pytest.raises(ValueError, match="needs the platform CA"):
        generate(cert())


def test_the_ca_location_and_its_setting() -> None:
    assert ca_location({}, "secret", "dev") == ("secret", "stackwright/ca/dev")
    assert ca_location({"secrets": {"caPath": "kv/pki/{env}-root"}}, "secret", "prod") == (
        "kv", "pki/prod-root")
    with pytest.raises(PermanentError, match="settings.secrets.caPath"):
        ca_location({"secrets": {"caPath": "justamount"}}, "secret", "dev")
    with pytest.raises(PermanentError, match="unknown field"):
        ca_location({"secrets": {"caPath": "secret/{project}"}}, "secret", "dev")


def _cert_spec(ttl: str = "30d", rotate: str | None = None) -> SecretSpec:
    body: dict[str, object] = {"path": "web/tls",
                               "generate": {"certificate": {"commonName": "web", "ttl": ttl}}}
    if rotate:
        body["rotateEvery"] = rotate
    return SecretSpec.model_validate(body)


def test_a_certificate_is_due_when_a_third_of_its_life_is_left() -> None:
    spec = _cert_spec("30d")
    expires = (NOW + timedelta(days=30)).isoformat()
    assert not spec.due(NOW.isoformat(), NOW, expires)
    assert not spec.due(NOW.isoformat(), NOW + timedelta(days=19, hours=23), expires)
    assert spec.due(NOW.isoformat(), NOW + timedelta(days=20, minutes=1), expires)
    assert spec.due(NOW.isoformat(), NOW + timedelta(days=40), expires)  # expired
    # expires_at decides, not rotated_at: a certificate that ends sooner is due sooner
    assert spec.due(NOW.isoformat(), NOW, (NOW + timedelta(days=9)).isoformat())
    # without expires_at (the controller's call), the end is rotated_at + ttl
    assert not spec.due(NOW.isoformat(), NOW + timedelta(days=19))
    assert spec.due(NOW.isoformat(), NOW + timedelta(days=21))
    assert not spec.due("", NOW + timedelta(days=400))


def test_rotate_every_still_applies_to_certificates_and_not_to_others() -> None:
    spec = _cert_spec("30d", rotate="1d")
    expires = (NOW + timedelta(days=30)).isoformat()
    assert not spec.due(NOW.isoformat(), NOW + timedelta(hours=23), expires)
    assert spec.due(NOW.isoformat(), NOW + timedelta(days=1), expires)
    password = SecretSpec.model_validate({"path": "a", "generate": {"password": {}}})
    assert not password.due(NOW.isoformat(), NOW + timedelta(days=4000), expires)


def test_a_create_that_failed_before_recording_reads_as_gone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STACKWRIGHT_ADDR", "VAULT_ADDR"):
        monkeypatch.delenv(name, raising=False)
    # the executor records CREATING with no inputs before create; a failed create (e.g. a
    # certificate outliving the CA) must not break the next plan's observation or delete
    record = Recorded(Address("Secret", "web-tls"), None, {}, {}, Status.CREATING)
    ctx = DriverContext(project_dir=tmp_path, environment="dev")
    driver = StoreSecretDriver()
    assert driver.read(ctx, record) is None
    driver.delete(ctx, record)  # nothing to delete, and no store needed to know it
    with pytest.raises(PermanentError, match="not reachable"):
        driver.read(ctx, Recorded(Address("Secret", "web-tls"), "secret/web/tls",
                                  {"path": "web/tls", "generate": {"password": {}}}, {}))
