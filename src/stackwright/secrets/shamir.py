"""Shamir's secret sharing over GF(2^8), byte-wise, in Vault's share layout.

A share is ``y-bytes || x`` (one y byte per secret byte, then the x coordinate), so a share
of a 32-byte key is 33 bytes, as in Vault. Any ``threshold`` distinct shares reconstruct the
secret; fewer reveal nothing about it.
"""

from __future__ import annotations

import secrets as _random

from stackwright.secrets.errors import InvalidRequestError


def _tables() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """exp/log tables of GF(256) with the AES polynomial x^8+x^4+x^3+x+1 and generator 3."""
    exp = [0] * 512
    log = [0] * 256
    value = 1
    for power in range(255):
        exp[power] = value
        log[value] = power
        value ^= (value << 1) ^ (0x11B if value & 0x80 else 0)  # value * 3
        value &= 0xFF
    for power in range(255, 512):
        exp[power] = exp[power - 255]
    return tuple(exp), tuple(log)


_EXP, _LOG = _tables()


def gf_mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def gf_div(a: int, b: int) -> int:
    if b == 0:
        raise ZeroDivisionError("division by zero in GF(256)")
    if a == 0:
        return 0
    return _EXP[(_LOG[a] - _LOG[b]) % 255]


def _evaluate(coefficients: list[int], x: int) -> int:
    """Horner's rule; coefficients[0] is the constant term."""
    result = 0
    for coefficient in reversed(coefficients):
        result = gf_mul(result, x) ^ coefficient
    return result


def _interpolate_at_zero(xs: list[int], ys: list[int]) -> int:
    result = 0
    for i, (xi, yi) in enumerate(zip(xs, ys, strict=True)):
        basis = 1
        for j, xj in enumerate(xs):
            if i != j:
                basis = gf_mul(basis, gf_div(xj, xj ^ xi))  # (0 - xj) / (xi - xj)
        result ^= gf_mul(yi, basis)
    return result


def split(secret: bytes, shares: int, threshold: int) -> list[bytes]:
    """Split ``secret`` into ``shares`` shares, any ``threshold`` of which recombine it."""
    if not secret:
        raise InvalidRequestError("cannot split an empty secret")
    if not 1 <= threshold <= shares <= 255:
        raise InvalidRequestError("need 1 <= threshold <= shares <= 255")
    xs = _random.SystemRandom().sample(range(1, 256), shares)
    out = [bytearray() for _ in range(shares)]
    for byte in secret:
        coefficients = [byte] + [_random.randbelow(256) for _ in range(threshold - 1)]
        for share, x in zip(out, xs, strict=True):
            share.append(_evaluate(coefficients, x))
    for share, x in zip(out, xs, strict=True):
        share.append(x)
    return [bytes(share) for share in out]


def combine(shares: list[bytes]) -> bytes:
    """Recombine shares; with fewer than the threshold the result is an unrelated value."""
    if not shares:
        raise InvalidRequestError("no shares to combine")
    length = len(shares[0])
    if length < 2 or any(len(share) != length for share in shares):
        raise InvalidRequestError("shares must all have the same length of at least 2 bytes")
    xs = [share[-1] for share in shares]
    if len(set(xs)) != len(xs) or 0 in xs:
        raise InvalidRequestError("duplicate or invalid key share")
    return bytes(
        _interpolate_at_zero(xs, [share[i] for share in shares]) for i in range(length - 1)
    )
