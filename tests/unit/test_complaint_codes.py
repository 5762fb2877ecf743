"""The reporter's query code: random, readable, typed back in any reasonable way, kept only as a hash, and
recoverable only by the holder of the filing's Idempotency-Key."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from supervision.complaints import codes


def test_codes_are_random_and_use_no_look_alike_letters() -> None:
    drawn = {codes.new_code() for _ in range(2000)}
    assert len(drawn) == 2000
    assert all(len(c) == codes.LENGTH and not set(c) & set("ILOU") for c in drawn)
    assert set("".join(drawn)) == set(codes.ALPHABET)   # every symbol is used: 5 bits each


def test_a_code_is_read_back_however_it_is_typed() -> None:
    code = "7KQ2M9XD0ABC1HJZ"
    shown = codes.shown(code)
    assert shown == "7KQ2-M9XD-0ABC-1HJZ"
    for typed in (shown, shown.lower(), " 7kq2 m9xd 0abc 1hjz ", "7KQ2-M9XD-OABC-IHJZ", "7kq2m9xd0abclhjz"):
        assert codes.normalise(typed) == code, typed
    for bad in (None, 7, "", "7KQ2-M9XD", "7KQ2-M9XD-0ABC-1HJ!", "x" * 65, "<script>alert(1)</script>"):
        assert codes.normalise(bad) is None, bad


def test_a_missing_or_malformed_code_is_a_400_and_a_wrong_one_only_fails_to_match() -> None:
    with pytest.raises(InvalidInput) as missing:
        codes.require(None)
    assert missing.value.details == {"input": "X-Query-Code", "allowed": missing.value.allowed, "reason": "required"}
    with pytest.raises(InvalidInput):
        codes.require("12345")
    stored = codes.digest("JB-2026-000001", "7KQ2M9XD0ABC1HJZ")
    assert codes.matches("JB-2026-000001", codes.require("7kq2-m9xd-0abc-1hjz"), stored)
    assert not codes.matches("JB-2026-000001", "7KQ2M9XD0ABC1HJY", stored)
    assert not codes.matches("JB-2026-000002", "7KQ2M9XD0ABC1HJZ", stored)   # salted by the number
    assert "7KQ2M9XD0ABC1HJZ" not in stored


def test_the_sealed_code_opens_only_with_its_key_and_number() -> None:
    key, number, code = "6f1c2d9e-0b7a-4e3f-9c1d-2a8b7e6f5d4c", "JB-2026-000042", codes.new_code()
    sealed = codes.seal(code, key, number)
    assert code not in sealed and len(sealed) == 2 * codes.LENGTH
    assert codes.unseal(sealed, key, number) == code
    assert codes.unseal(sealed, key[:-1] + "d", number) != code
    assert codes.unseal(sealed, key, "JB-2026-000043") != code
    assert codes.key_hash(key) != codes.key_hash(key.upper()) and key not in codes.key_hash(key)
