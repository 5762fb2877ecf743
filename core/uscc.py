"""Unified social credit codes (统一社会信用代码), GB 32100-2015: shape and check characters.

Layout of the 18 characters::

    9 1 329902 MA1K3BTP 2 B
    | | |      |        | └ check character over the first 17 (GB 32100, mod 31)
    | | |      |        └── check character of the organisation code (GB 11714, mod 11)
    | | |      └─────────── organisation code body (8 characters)
    | | └────────────────── administrative division of the registering authority (GB/T 2260)
    | └──────────────────── organisation type (1 enterprise, 2 individual business, 3 farmers' cooperative …)
    └────────────────────── registration authority (9 market regulation, 1 establishment offices, 5 civil affairs …)

The character set is the digits and the upper-case letters without I, O, Z, S, V (31 symbols, so that the
check character is always one of them). Shared by the demo-city generator (which makes codes) and the records
module (which checks the codes people type).
"""

from __future__ import annotations

import re

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
SYMBOL_VALUE = {c: i for i, c in enumerate(CHARSET)}  # symbol -> its value in the mod-31 sum
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
#: GB 11714 organisation code: weights of the 8 body characters; letters count A=10 … Z=35.
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_BASE36 = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SHAPE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}")


def uscc_check_digit(first17: str) -> str:
    """The 18th character for the given first 17 (GB 32100-2015, clause 5)."""
    if len(first17) != 17 or any(c not in SYMBOL_VALUE for c in first17):
        raise ValueError(f"expected 17 characters from {CHARSET!r}, got {first17!r}")
    total = sum(SYMBOL_VALUE[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def org_code_check_digit(body8: str) -> str:
    """The 9th character of a GB 11714 organisation code (0-9, or X for 10)."""
    if len(body8) != 8 or any(c not in _BASE36 for c in body8):
        raise ValueError(f"expected 8 digits or upper-case letters, got {body8!r}")
    total = sum(int(c, 36) * w for c, w in zip(body8, ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def uscc_problem(code: object) -> str | None:
    """Why ``code`` is not a valid USCC (English, one phrase), or None when it is.

    Strict on purpose: no separators, no lower case, no surrounding blanks — callers normalise input first.
    """
    if not isinstance(code, str) or len(code) != 18:
        return "not 18 characters"
    if not _SHAPE.fullmatch(code):
        return "characters outside the GB 32100 set (digits and A-Y without I, O, S, V, Z; positions 3-8 digits)"
    if code[16] != org_code_check_digit(code[8:16]):
        return "organisation-code check character (17th) is wrong"
    if code[17] != uscc_check_digit(code[:17]):
        return "check character (18th) is wrong"
    return None


def is_valid_uscc(code: str) -> bool:
    """True when ``code`` is a well-formed USCC whose organisation-code and final check characters agree."""
    return uscc_problem(code) is None


def make_uscc(division: str, body8: str, authority: str = "9", org_type: str = "1") -> str:
    """Assemble a code from its parts, computing both check characters."""
    first17 = authority + org_type + division + body8 + org_code_check_digit(body8)
    return first17 + uscc_check_digit(first17)


__all__ = ["CHARSET", "ORG_WEIGHTS", "SYMBOL_VALUE", "WEIGHTS", "is_valid_uscc", "make_uscc", "org_code_check_digit",
           "uscc_check_digit", "uscc_problem"]
