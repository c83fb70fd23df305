from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackwright.secrets import shamir
from stackwright.secrets.errors import InvalidRequestError

secrets_32 = st.binary(min_size=32, max_size=32)


@st.composite
def split_case(draw: st.DrawFn) -> tuple[bytes, int, int, list[bytes]]:
    shares = draw(st.integers(min_value=1, max_value=8))
    threshold = draw(st.integers(min_value=1, max_value=shares))
    secret = draw(secrets_32)
    return secret, shares, threshold, shamir.split(secret, shares, threshold)


@settings(max_examples=60, deadline=None)
@given(split_case(), st.randoms(use_true_random=False))
def test_any_threshold_shares_reconstruct(
    case: tuple[bytes, int, int, list[bytes]], rnd: random.Random
) -> None:
    secret, shares, threshold, parts = case
    assert len(parts) == shares and all(len(p) == 33 for p in parts)
    for subset in itertools.islice(itertools.combinations(parts, threshold), 20):
        chosen = list(subset)
        rnd.shuffle(chosen)
        assert shamir.combine(chosen) == secret


@settings(max_examples=60, deadline=None)
@given(split_case())
def test_fewer_than_threshold_shares_do_not_give_the_key(
    case: tuple[bytes, int, int, list[bytes]],
) -> None:
    secret, _shares, threshold, parts = case
    if threshold < 2:
        return
    for subset in itertools.islice(itertools.combinations(parts, threshold - 1), 20):
        assert shamir.combine(list(subset)) != secret


@settings(max_examples=200)
@given(st.integers(0, 255), st.integers(1, 255))
def test_gf_division_inverts_multiplication(a: int, b: int) -> None:
    assert shamir.gf_div(shamir.gf_mul(a, b), b) == a


def test_k_minus_one_shares_are_consistent_with_every_secret_byte() -> None:
    """Information-theoretic hiding: for 1-byte secrets with threshold 2, one share's y-value
    is uniform whatever the secret; over all polynomials each y appears equally often."""
    x = 7
    for secret in (0, 1, 200):
        counts = [0] * 256
        for slope in range(256):
            counts[shamir.gf_mul(slope, x) ^ secret] += 1
        assert set(counts) == {1}


def test_duplicate_shares_are_refused() -> None:
    parts = shamir.split(b"k" * 32, 3, 2)
    with pytest.raises(InvalidRequestError):
        shamir.combine([parts[0], parts[0]])


@pytest.mark.parametrize(("shares", "threshold"), [(0, 0), (3, 4), (256, 2), (2, 0)])
def test_invalid_parameters(shares: int, threshold: int) -> None:
    with pytest.raises(InvalidRequestError):
        shamir.split(b"secret", shares, threshold)


def test_single_share_is_the_secret() -> None:
    [share] = shamir.split(b"s" * 32, 1, 1)
    assert shamir.combine([share]) == b"s" * 32
