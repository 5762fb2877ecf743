"""USCC (统一社会信用代码, GB 32100-2015) check characters, on published codes and on corrupted ones."""

from __future__ import annotations

import numpy as np
import pytest

from data.demo.uscc import (
    CHARSET,
    generate_usccs,
    is_valid_uscc,
    make_uscc,
    org_code_check_digit,
    uscc_check_digit,
)

# Codes of real registrants as published on their licences and in public registers (and collected as test
# data by python-stdnum): market-regulation firms old and new ("MA…"), an individual business (92…) and a
# public institution (12…); several have X as their organisation-code check character.
PUBLISHED = [
    "914403001922038216",  # 华为技术有限公司
    "91440300708461136T",  # 深圳市腾讯计算机系统有限公司
    "91110000600037341L",
    "91310000631696382C",
    "91440300568520498A",
    "9144030071526726XG",
    "9131012056010553X5",
    "91310115MA1K3BTP2B",
    "91340600MA2PBM9HXD",
    "91620105L015101280",
    "92340602MA2PBMEM24",
    "121200004013590816",
]


@pytest.mark.parametrize("code", PUBLISHED)
def test_published_codes_are_valid(code: str) -> None:
    assert is_valid_uscc(code)
    assert uscc_check_digit(code[:17]) == code[17]
    assert org_code_check_digit(code[8:16]) == code[16]


def test_organisation_code_check_digit_examples() -> None:
    assert org_code_check_digit("19220382") == "1"  # Huawei's organisation code 19220382-1
    assert org_code_check_digit("70846113") == "6"  # Tencent's 70846113-6
    assert org_code_check_digit("71526726") == "X"


@pytest.mark.parametrize("code", PUBLISHED[:4])
def test_every_single_character_substitution_is_caught(code: str) -> None:
    for i in range(18):
        for c in CHARSET:
            if c != code[i]:
                assert not is_valid_uscc(code[:i] + c + code[i + 1:]), (i, c)


@pytest.mark.parametrize("code", PUBLISHED)
def test_adjacent_transpositions_are_caught(code: str) -> None:
    for i in range(17):
        if code[i] != code[i + 1]:
            swapped = code[:i] + code[i + 1] + code[i] + code[i + 2:]
            assert not is_valid_uscc(swapped), i


@pytest.mark.parametrize("bad", [
    "",
    "91110000600037341",  # 17 characters
    "91110000600037341LL",  # 19
    "91110000600037341l",  # lower case is not normalised here
    " 91110000600037341L",
    "91 110000 600037341L",
    "9111000060003IOZSV",  # letters outside the character set
    "911100006000373410",
    "91ABCDEF600037341L",  # the division code must be digits
    None,
    91110000600037341,
])
def test_malformed_codes_are_rejected(bad: object) -> None:
    assert not is_valid_uscc(bad)  # type: ignore[arg-type]


def test_wrong_organisation_check_digit_is_caught_even_with_a_matching_final_character() -> None:
    good = "914403001922038216"
    first17 = good[:16] + "2"  # organisation code 19220382-2 (should be -1)
    forged = first17 + uscc_check_digit(first17)
    assert not is_valid_uscc(forged)


def test_check_digit_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        uscc_check_digit("9144030019220382")
    with pytest.raises(ValueError):
        uscc_check_digit("9144030019220382I")
    with pytest.raises(ValueError):
        org_code_check_digit("1922038")


def test_generated_codes_are_valid_unique_and_carry_their_division() -> None:
    divisions = ["329902", "329903", "329907"] * 2000
    codes = generate_usccs(np.random.default_rng(7), divisions)
    assert len(set(codes)) == len(codes)
    assert all(is_valid_uscc(c) for c in codes)
    assert [c[2:8] for c in codes] == divisions
    assert all(c.startswith("91") for c in codes)
    assert any(c[8:10] == "MA" for c in codes) and any(c[8:16].isdigit() for c in codes)
    assert any(c[16] == "X" for c in codes)  # the organisation check character 10 is exercised


def test_generation_avoids_codes_already_taken() -> None:
    first = generate_usccs(np.random.default_rng(1), ["329902"] * 50)
    again = generate_usccs(np.random.default_rng(1), ["329902"] * 50, taken=set(first))
    assert not set(first) & set(again)


def test_make_uscc_assembles_both_check_characters() -> None:
    assert make_uscc("440300", "19220382") == "914403001922038216"
    assert make_uscc("440300", "70846113") == "91440300708461136T"
