"""The platform's certificate authority: one self-signed root per project and environment,
kept in the secrets store itself (KV version 2), and the leaf certificates it signs.

Building certificates is pure — keys, names and times in, a certificate out — so it is
tested without a store. Only :func:`platform_ca` does I/O: it reads the CA from the store or
creates it there with check-and-set 0, so two applies racing to create it agree on one (the
loser reads the winner's). The CA's key is never written anywhere else. The CA certificate is
not rotated: when it nears its end (10 years by default), delete it from the store and
re-issue every certificate.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from stackwright.errors import PermanentError, SecretsError
from stackwright.secure.vault import VaultClient, status_of

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
BACKDATE = timedelta(minutes=1)
DEFAULT_CA_TTL = "3650d"
DEFAULT_CA_PATH = "{mount}/stackwright/ca/{env}"


@dataclass(frozen=True)
class Authority:
    """A CA certificate and its key (ECDSA P-256)."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def to_store(self) -> dict[str, str]:
        return {"certificate": self.certificate_pem(), "private_key": private_pem(self.key),
                "serial": serial_text(self.certificate.serial_number),
                "expires_at": iso(self.certificate.not_valid_after_utc)}

    @classmethod
    def from_store(cls, data: Mapping[str, Any], where: str) -> Authority:
        try:
            cert = x509.load_pem_x509_certificate(str(data["certificate"]).encode())
            key = serialization.load_pem_private_key(str(data["private_key"]).encode(), None)
        except (KeyError, ValueError, TypeError) as exc:
            raise PermanentError(f"the platform CA at {where} is not a certificate and key",
                                 hint="delete it from the store to have a new one made, "
                                      "then re-issue the certificates") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey) or (
                key.public_key() != cert.public_key()):
            raise PermanentError(f"the platform CA at {where} has a key that does not match "
                                 "its certificate", hint="delete it from the store to have "
                                 "a new one made, then re-issue the certificates")
        return cls(cert, key)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def serial_text(serial: int) -> str:
    """The serial number as colon-separated hex bytes, as Vault's PKI shows it."""
    raw = serial.to_bytes((serial.bit_length() + 7) // 8 or 1, "big")
    return ":".join(f"{b:02x}" for b in raw)


def private_pem(key: PrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def new_key(key_type: str, bits: int = 3072) -> PrivateKey:
    """ed25519, rsa (``bits``) or, by default, ECDSA P-256."""
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return ec.generate_private_key(ec.SECP256R1())


def build_ca(key: ec.EllipticCurvePrivateKey, subject: str, now: datetime, ttl: timedelta,
             serial: int) -> x509.Certificate:
    """A self-signed root that may sign leaves only (pathLen 0)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - BACKDATE).not_valid_after(now + ttl)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                           critical=False)
            .sign(key, hashes.SHA256()))


def build_leaf(ca: Authority, public_key: Any, common_name: str, dns_names: Sequence[str],
               ip_addresses: Sequence[str], now: datetime, ttl: timedelta,
               serial: int) -> x509.Certificate:
    """A server (and client) certificate for the names, valid from a minute before ``now``
    for ``ttl``, signed by ``ca``."""
    ca_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    rsa_key = isinstance(public_key, rsa.RSAPublicKey)
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca.certificate.subject).public_key(public_key)
            .serial_number(serial)
            .not_valid_before(now - BACKDATE).not_valid_after(now + ttl)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(encipher=rsa_key), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName(
                subject_names(common_name, dns_names, ip_addresses)), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                ca_ski.value), critical=False)
            .sign(ca.key, hashes.SHA256()))


def subject_names(common_name: str, dns_names: Sequence[str], ip_addresses: Sequence[str]
                  ) -> list[x509.GeneralName]:
    """SANs: the DNS names (the common name first unless it is an IP) and the IPs, once each."""
    dns = list(dns_names)
    ips = list(ip_addresses)
    if _is_ip(common_name):
        ips.insert(0, common_name)
    else:
        dns.insert(0, common_name)
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dict.fromkeys(dns)]
    unique_ips = dict.fromkeys(ipaddress.ip_address(a) for a in ips)
    names += [x509.IPAddress(a) for a in unique_ips]
    return names


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _key_usage(cert_sign: bool = False, encipher: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=not cert_sign, content_commitment=False,
                         key_encipherment=encipher, data_encipherment=False,
                         key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign,
                         encipher_only=False, decipher_only=False)


def new_authority(subject: str, now: datetime, ttl: timedelta) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    return Authority(build_ca(key, subject, now, ttl, x509.random_serial_number()), key)


def ca_subject(project: str, environment: str) -> str:
    return f"Stackwright {project or 'project'}/{environment} CA"


def ca_location(settings: Mapping[str, Any], mount: str, environment: str) -> tuple[str, str]:
    """(mount, path) of the CA: ``settings.secrets.caPath`` (``{mount}``/``{env}`` filled in),
    by default ``<mount>/stackwright/ca/<env>``."""
    conf = (settings.get("secrets") or {}) if isinstance(settings, Mapping) else {}
    text = str(conf.get("caPath") or DEFAULT_CA_PATH)
    try:
        full = text.format(mount=mount, env=environment).strip("/")
    except (KeyError, IndexError, ValueError) as exc:
        raise PermanentError(f"settings.secrets.caPath {text!r} names an unknown field",
                             hint="write mount/path; {mount} and {env} are filled in") from exc
    ca_mount, _, path = full.partition("/")
    if not ca_mount or not path:
        raise PermanentError(f"settings.secrets.caPath {text!r} is not mount/path",
                             hint="for example secret/stackwright/ca/{env}")
    return ca_mount, path


def platform_ca(client: VaultClient, where: tuple[str, str], subject: str, ttl: timedelta,
                now: datetime) -> Authority:
    """The CA kept at ``where``, created there on first use (check-and-set 0: when another
    writer created it first, theirs is read and used)."""
    found = _read_ca(client, where)
    if found is not None:
        return found
    made = new_authority(subject, now, ttl)
    mount, path = where
    try:
        client.call("POST", f"{mount}/data/{path}",
                    {"data": made.to_store(), "options": {"cas": 0}})
    except SecretsError as exc:
        if status_of(exc) != 400 or "check-and-set" not in exc.message:
            raise PermanentError(f"cannot create the platform CA at {mount}/{path}: "
                                 f"{exc.message}", hint=exc.hint) from exc
        winner = _read_ca(client, where)
        if winner is None:
            raise PermanentError(f"the platform CA at {mount}/{path} is deleted",
                                 hint="undelete it, or destroy its metadata to have a new "
                                      "one made") from exc
        return winner
    return made


def _read_ca(client: VaultClient, where: tuple[str, str], again: bool = True
             ) -> Authority | None:
    mount, path = where
    try:
        doc = client.call("GET", f"{mount}/data/{path}")
    except SecretsError as exc:
        if status_of(exc) != 404:
            raise PermanentError(f"cannot read the platform CA at {mount}/{path}: "
                                 f"{exc.message}", hint=exc.hint) from exc
        state = _version_state(client, where)
        if state == "none":
            return None
        if state == "alive" and again:  # written by another writer since our read
            return _read_ca(client, where, again=False)
        raise PermanentError(f"the platform CA at {mount}/{path} is deleted",
                             hint="undelete it, or destroy its metadata to have a new "
                                  "one made") from exc
    return Authority.from_store((doc.get("data") or {}).get("data") or {}, f"{mount}/{path}")


def _version_state(client: VaultClient, where: tuple[str, str]) -> str:
    """none (never written), alive, or deleted: the state of the current version."""
    mount, path = where
    try:
        doc = client.call("GET", f"{mount}/metadata/{path}")
    except SecretsError as exc:
        if status_of(exc) == 404:
            return "none"
        raise PermanentError(f"cannot read the platform CA at {mount}/{path}: {exc.message}",
                             hint=exc.hint) from exc
    meta = doc.get("data") or {}
    current = (meta.get("versions") or {}).get(str(meta.get("current_version") or 0))
    if not current:
        return "none"
    return "deleted" if current.get("destroyed") or current.get("deletion_time") else "alive"
