"""Unified social credit codes (统一社会信用代码), GB 32100-2015.

Layout of the 18 characters::

    9 1 329902 MA1K3BTP 2 B
    | | |      |        | └ check character over the first 17 (GB 32100, mod 31)
    | | |      |        └── check character of the organisation code (GB 11714, mod 11)
    | | |      └─────────── organisation code body (8 characters)
    | | └────────────────── administrative division of the registering authority (GB/T 2260)
    | └──────────────────── organisation type (1 enterprise, 2 individual business, 3 farmers' cooperative …)
    └────────────────────── registration authority (9 market regulation, 1 establishment offices, 5 civil affairs …)

The character set is the digits and the upper-case letters without I, O, Z, S, V (31 symbols, so that the
check character is always one of them).
"""

from __future__ import annotations

import re

import numpy as np

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {c: i for i, c in enumerate(CHARSET)}
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
#: GB 11714 organisation code: weights of the 8 body characters; letters count A=10 … Z=35.
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_BASE36 = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SHAPE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}")


def uscc_check_digit(first17: str) -> str:
    """The 18th character for the given first 17 (GB 32100-2015, clause 5)."""
    if len(first17) != 17 or any(c not in _VALUE for c in first17):
        raise ValueError(f"expected 17 characters from {CHARSET!r}, got {first17!r}")
    total = sum(_VALUE[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def org_code_check_digit(body8: str) -> str:
    """The 9th character of a GB 11714 organisation code (0-9, or X for 10)."""
    if len(body8) != 8 or any(c not in _BASE36 for c in body8):
        raise ValueError(f"expected 8 digits or upper-case letters, got {body8!r}")
    total = sum(int(c, 36) * w for c, w in zip(body8, ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def is_valid_uscc(code: str) -> bool:
    """True when ``code`` is a well-formed USCC whose organisation-code and final check characters agree.

    Strict on purpose: no separators, no lower case, no surrounding blanks — callers normalise input first.
    """
    if not isinstance(code, str) or not _SHAPE.fullmatch(code):
        return False
    org = code[8:17]
    if org[8] != org_code_check_digit(org[:8]):
        return False
    return code[17] == uscc_check_digit(code[:17])


def make_uscc(division: str, body8: str, authority: str = "9", org_type: str = "1") -> str:
    """Assemble a code from its parts, computing both check characters."""
    first17 = authority + org_type + division + body8 + org_code_check_digit(body8)
    return first17 + uscc_check_digit(first17)


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
