"""Password hashes with the standard library's scrypt (RFC 7914), in one self-describing
string: ``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (salt and hash base64)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

N, R, P = 2**14, 8, 1  # OWASP's minimum for scrypt; about 50 ms and 16 MiB per check
MIN_LENGTH = 8


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
    return "$".join(["scrypt", str(N), str(R), str(P), _b64(salt), _b64(digest)])


def verify_password(password: str, stored: str | None) -> bool:
    """True when ``password`` matches; a missing or malformed hash never matches (but still
    costs one scrypt, so a missing user cannot be told apart by timing)."""
    try:
        scheme, n, r, p, salt, digest = (stored or "").split("$")
        params = (int(n), int(r), int(p))
        if scheme != "scrypt":
            raise ValueError(scheme)
    except ValueError:
        hashlib.scrypt(password.encode(), salt=b"0" * 16, n=N, r=R, p=P, dklen=32)
        return False
    got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=params[0],
                         r=params[1], p=params[2], dklen=32)
    return hmac.compare_digest(got, base64.b64decode(digest))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
