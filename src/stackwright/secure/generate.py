"""Generated secret values: passwords under a policy, random bytes, key pairs, and TLS
certificates signed by the platform's CA (:mod:`stackwright.secure.ca`).

Every value comes from the operating system's CSPRNG (``secrets``) or from ``cryptography``.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import secrets
import string
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from stackwright.core.kinds import SpecModel
from stackwright.durations import period

if TYPE_CHECKING:
    from stackwright.secure.ca import Authority

KeyType = Literal["ed25519", "ecdsa-p256", "rsa"]

SYMBOLS = "!#%+-.:=?@^_~"
GENERATORS = ("password", "bytes", "keypair", "certificate")
CERTIFICATE_KEYS = ["certificate", "private_key", "ca_chain", "serial", "expires_at"]
_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_DNS_NAME = re.compile(rf"^(\*\.)?({_LABEL}\.)*{_LABEL}$")


class PasswordPolicy(SpecModel):
    length: int = Field(32, ge=8, le=256, description="Characters.")
    uppercase: bool = Field(True, description="Use A-Z.")
    digits: bool = Field(True, description="Use 0-9.")
    symbols: bool = Field(False, description=f"Use {SYMBOLS} (safe in URLs and shells).")
    minEach: int = Field(1, ge=0, le=8,  # noqa: N815
                         description="At least this many of each class used.")

    @model_validator(mode="after")
    def _satisfiable(self) -> PasswordPolicy:
        used = 1 + self.uppercase + self.digits + self.symbols
        if self.minEach * used > self.length:
            raise ValueError(f"minEach {self.minEach} of {used} classes needs at least "
                             f"{self.minEach * used} characters, length is {self.length}")
        return self


class RandomBytes(SpecModel):
    length: int = Field(32, ge=8, le=1024, description="Bytes.")
    encoding: Literal["base64", "hex"] = Field("base64", description="How they are stored.")


class KeyPair(SpecModel):
    type: Literal["ed25519", "rsa"] = Field("ed25519", description="Algorithm.")
    bits: int = Field(3072, ge=2048, le=8192, description="RSA modulus size.")


class Certificate(SpecModel):
    """A TLS server/client certificate from the platform's CA."""

    commonName: str = Field(min_length=1, max_length=64,  # noqa: N815
                            description="A DNS name (also a SAN) or an IP address.")
    dnsNames: list[str] = Field(default_factory=list,  # noqa: N815
                                description="More DNS names (SANs); *.x.y allowed.")
    ipAddresses: list[str] = Field(default_factory=list,  # noqa: N815
                                   description="IP addresses (SANs).")
    ttl: str = Field("30d", description="Validity: 90s, 15m, 12h, 30d. Renewed by the "
                                        "daemon when less than a third is left.")
    keyType: KeyType = Field("ecdsa-p256",  # noqa: N815
                             description="ed25519, ecdsa-p256 or rsa.")
    bits: int = Field(3072, ge=2048, le=8192, description="RSA modulus size.")

    @field_validator("commonName")
    @classmethod
    def _name_or_ip(cls, value: str) -> str:
        if not _is_ip(value):
            _dns_name(value)
        return value

    @field_validator("dnsNames")
    @classmethod
    def _dns_names(cls, value: list[str]) -> list[str]:
        return [_dns_name(name) for name in value]

    @field_validator("ipAddresses")
    @classmethod
    def _ips(cls, value: list[str]) -> list[str]:
        for text in value:
            if not _is_ip(text):
                raise ValueError(f"not an IP address: {text!r}")
        return value

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, value: str) -> str:
        if period(value) < timedelta(seconds=10):
            raise ValueError(f"ttl {value} is too short (10s at least)")
        return value


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _dns_name(text: str) -> str:
    if len(text) > 253 or _DNS_NAME.match(text) is None:
        raise ValueError(f"not a DNS name: {text!r} (letters, digits and '-' in "
                         "dot-separated labels; a leading '*.' for a wildcard)")
    return text


class Generate(SpecModel):
    """Exactly one generator."""

    password: PasswordPolicy | None = None
    bytes: RandomBytes | None = None
    keypair: KeyPair | None = None
    certificate: Certificate | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Generate:
        chosen = [n for n in GENERATORS if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValueError("give exactly one of password, bytes, keypair or certificate "
                             f"(got {', '.join(chosen) or 'none'})")
        return self


def generate(spec: Generate, ca: Authority | None = None,
             now: datetime | None = None) -> dict[str, str]:
    """The secret's keys and values; a certificate needs the CA that signs it."""
    if spec.certificate is not None:
        if ca is None or now is None:
            raise ValueError("a certificate needs the platform CA and the time")
        return certificate(spec.certificate, ca, now)
    if spec.password is not None:
        return {"value": password(spec.password)}
    if spec.bytes is not None:
        raw = secrets.token_bytes(spec.bytes.length)
        text = base64.b64encode(raw).decode() if spec.bytes.encoding == "base64" else raw.hex()
        return {"value": text}
    assert spec.keypair is not None
    return keypair(spec.keypair)


def keys_of(spec: Generate) -> list[str]:
    if spec.certificate is not None:
        return list(CERTIFICATE_KEYS)
    return ["private_key", "public_key"] if spec.keypair is not None else ["value"]


def password(policy: PasswordPolicy) -> str:
    classes = [string.ascii_lowercase]
    classes += [string.ascii_uppercase] if policy.uppercase else []
    classes += [string.digits] if policy.digits else []
    classes += [SYMBOLS] if policy.symbols else []
    alphabet = "".join(classes)
    while True:
        value = "".join(secrets.choice(alphabet) for _ in range(policy.length))
        if all(sum(c in cls for c in value) >= policy.minEach for cls in classes):
            return value


def keypair(spec: KeyPair) -> dict[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    key = (ed25519.Ed25519PrivateKey.generate() if spec.type == "ed25519"
           else rsa.generate_private_key(public_exponent=65537, key_size=spec.bits))
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return {"private_key": private, "public_key": public}


def certificate(spec: Certificate, ca: Authority, now: datetime) -> dict[str, str]:
    """A fresh key and a certificate for it signed by ``ca``, valid for ``spec.ttl``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from stackwright.secure.ca import build_leaf, iso, new_key, private_pem, serial_text

    key = new_key(spec.keyType, spec.bits)
    cert = build_leaf(ca, key.public_key(), spec.commonName, spec.dnsNames, spec.ipAddresses,
                      now, period(spec.ttl), x509.random_serial_number())
    return {"certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "private_key": private_pem(key), "ca_chain": ca.certificate_pem(),
            "serial": serial_text(cert.serial_number),
            "expires_at": iso(cert.not_valid_after_utc)}
