"""Shamir secret sharing over GF(2^8), compatible with sops's key groups.

The field is the AES field (reducing polynomial ``x^8 + x^4 + x^3 + x + 1``, ``0x11B``). A
share of an ``n``-byte secret has ``n + 1`` bytes: the ``n`` y-values, one per secret byte, then
the x-coordinate as the **last** byte. Share ``i`` (counting from 0) has ``x = i + 1``. The secret
is recovered by Lagrange interpolation at ``x = 0``, byte by byte.

Arithmetic uses log and antilog tables over the generator 3. Python cannot promise constant
time anyway; the shares are short and the tables keep combining cheap on the boot path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Final

from secretsctl.errors import SecretsctlError

__all__ = ["ShamirError", "combine", "split"]

_POLYNOMIAL: Final = 0x11B


class ShamirError(SecretsctlError):
    """Shares cannot be made or combined (bad threshold, mismatched or duplicate shares)."""


def _tables() -> tuple[list[int], list[int]]:
    exp = [0] * 510
    log = [0] * 256
    value = 1
    for power in range(255):
        exp[power] = value
        log[value] = power
        # Multiply by the generator 3, i.e. value * x + value.
        doubled = value << 1
        if doubled & 0x100:
            doubled ^= _POLYNOMIAL
        value = doubled ^ value
    # Doubling the table saves a modulo in every multiplication.
    exp[255:510] = exp[:255]
    return exp, log


_EXP, _LOG = _tables()


def _mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    return _EXP[_LOG[a] + _LOG[b]]


def _div(a: int, b: int) -> int:
    if a == 0:
        return 0
    return _EXP[_LOG[a] + 255 - _LOG[b]]


def split(
    secret: bytes,
    parts: int,
    threshold: int,
    *,
    randbytes: Callable[[int], bytes] = os.urandom,
) -> list[bytes]:
    """Split ``secret`` into ``parts`` shares, any ``threshold`` of which rebuild it.

    ``randbytes`` supplies the random coefficients; it is a parameter only for tests.
    """
    if parts < threshold:
        raise ShamirError("parts cannot be less than threshold")
    if parts > 255:
        raise ShamirError("parts cannot exceed 255")
    if threshold < 2:
        raise ShamirError("threshold must be at least 2")
    if not secret:
        raise ShamirError("cannot split an empty secret")
    shares = [bytearray(len(secret) + 1) for _ in range(parts)]
    for index, share in enumerate(shares):
        share[-1] = index + 1
    for position, intercept in enumerate(secret):
        coefficients = randbytes(threshold - 1)
        if len(coefficients) != threshold - 1:
            raise ShamirError("the random source returned too few bytes")
        for index, share in enumerate(shares):
            x = index + 1
            # Horner's rule from the highest coefficient down to the intercept.
            y = 0
            for coefficient in reversed(coefficients):
                y = _mul(y, x) ^ coefficient
            share[position] = _mul(y, x) ^ intercept
    return [bytes(share) for share in shares]


def combine(shares: Sequence[bytes]) -> bytes:
    """Rebuild the secret from at least two shares of equal length with distinct x-coordinates.

    Given fewer shares than the threshold used to split, this returns a wrong secret without
    noticing: the caller must know the threshold (and sops files carry a MAC that catches it).
    """
    if len(shares) < 2:
        raise ShamirError("less than two parts cannot be used to reconstruct the secret")
    length = len(shares[0])
    if length < 2:
        raise ShamirError("parts must be at least two bytes")
    if any(len(share) != length for share in shares):
        raise ShamirError("all parts must be the same length")
    xs = [share[-1] for share in shares]
    if len(set(xs)) != len(xs):
        raise ShamirError("duplicate part detected")
    if 0 in xs:
        raise ShamirError("a part has the x-coordinate 0")
    # The Lagrange basis at x = 0 depends only on the x-coordinates, so it is computed once:
    # basis_i = prod_{j != i} x_j / (x_i + x_j)  (subtraction is addition in GF(2^8)).
    bases = []
    for i, xi in enumerate(xs):
        basis = 1
        for j, xj in enumerate(xs):
            if i != j:
                basis = _mul(basis, _div(xj, xi ^ xj))
        bases.append(basis)
    secret = bytearray(length - 1)
    for position in range(length - 1):
        value = 0
        for share, basis in zip(shares, bases, strict=True):
            value ^= _mul(share[position], basis)
        secret[position] = value
    return bytes(secret)
