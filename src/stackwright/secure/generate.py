"""Generated secret values: passwords under a policy, random bytes, key pairs.

Every value comes from the operating system's CSPRNG (``secrets``) or from ``cryptography``.
"""

from __future__ import annotations

import base64
import secrets
import string
from typing import Literal

from pydantic import Field, model_validator

from stackwright.core.kinds import SpecModel

SYMBOLS = "!#%+-.:=?@^_~"


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


class Generate(SpecModel):
    """Exactly one generator."""

    password: PasswordPolicy | None = None
    bytes: RandomBytes | None = None
    keypair: KeyPair | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Generate:
        chosen = [n for n in ("password", "bytes", "keypair") if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValueError("give exactly one of password, bytes or keypair "
                             f"(got {', '.join(chosen) or 'none'})")
        return self


def generate(spec: Generate) -> dict[str, str]:
    """The secret's keys and values."""
    if spec.password is not None:
        return {"value": password(spec.password)}
    if spec.bytes is not None:
        raw = secrets.token_bytes(spec.bytes.length)
        text = base64.b64encode(raw).decode() if spec.bytes.encoding == "base64" else raw.hex()
        return {"value": text}
    assert spec.keypair is not None
    return keypair(spec.keypair)


def keys_of(spec: Generate) -> list[str]:
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
