"""Unified social credit codes (统一社会信用代码), GB 32100-2015: generated in bulk for the demo city.

The check characters themselves are :mod:`core.uscc` (the records module checks typed codes with them).

The layout of the 18 characters and the character set are described there.
"""

from __future__ import annotations

import numpy as np

from core.uscc import (
    CHARSET,
    ORG_WEIGHTS,
    WEIGHTS,
    is_valid_uscc,
    make_uscc,
    org_code_check_digit,
    uscc_check_digit,
)
from core.uscc import SYMBOL_VALUE as _VALUE

__all__ = ["CHARSET", "ORG_WEIGHTS", "WEIGHTS", "generate_usccs", "is_valid_uscc", "make_uscc",
           "org_code_check_digit", "uscc_check_digit"]

# Generated bodies stay inside the USCC character set (GB 11714 alone would also allow I, O, S, V, Z).
_DIGITS = "0123456789"
_BODY_CHARS = _DIGITS + "ABCDEFGHJKLMNPQRTUWXY"
_BODY_BASE36 = np.array([int(c, 36) for c in _BODY_CHARS])
_BODY_VALUE = np.array([_VALUE[c] for c in _BODY_CHARS])


def generate_usccs(rng: np.random.Generator, divisions: list[str], taken: set[str] | None = None) -> list[str]:
    """One new, unique enterprise code per entry of ``divisions`` (market-regulation authority, type 1).

    Older firms carry a numeric body converted from their pre-2015 organisation code; newer ones the
    "MA…" bodies issued since, in roughly even shares. Check characters are computed in bulk with the
    same weights as the functions above (the unit tests hold the two to each other).
    """
    taken = set() if taken is None else taken
    out: list[str | None] = [None] * len(divisions)
    todo = np.arange(len(divisions))
    while len(todo):
        codes = _draw_codes(rng, [divisions[i] for i in todo])
        retry = []
        for i, code in zip(todo, codes, strict=True):
            if code in taken:
                retry.append(i)
            else:
                taken.add(code)
                out[i] = code
        todo = np.array(retry, dtype=int)
    return out  # type: ignore[return-value]


def _draw_codes(rng: np.random.Generator, divisions: list[str]) -> list[str]:
    n = len(divisions)
    body = rng.integers(0, len(_BODY_CHARS), (n, 8))
    numeric = rng.random(n) < 0.5
    body[numeric] = rng.integers(0, 10, (int(numeric.sum()), 8))
    body[numeric, 0] = rng.integers(1, 10, int(numeric.sum()))
    body[~numeric, 0], body[~numeric, 1] = _BODY_CHARS.index("M"), _BODY_CHARS.index("A")
    org = 11 - (_BODY_BASE36[body] @ np.array(ORG_WEIGHTS)) % 11
    org_value = np.where(org == 10, _VALUE["X"], np.where(org == 11, 0, org))  # digits map to themselves
    head = np.array([[_VALUE[c] for c in "91" + d] for d in divisions]).reshape(n, 8)
    values = np.hstack([head, _BODY_VALUE[body], org_value[:, None]])
    check = (31 - (values @ np.array(WEIGHTS)) % 31) % 31
    return ["91" + d + "".join(_BODY_CHARS[c] for c in b) + CHARSET[o] + CHARSET[k]
            for d, b, o, k in zip(divisions, body, org_value, check, strict=True)]
