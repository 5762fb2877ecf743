"""The codes the records module checks: GB 32100 USCC check characters (core.uscc) and GB/T 4754 industry codes."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from core.uscc import is_valid_uscc, make_uscc, uscc_problem
from supervision.records.industry import DIVISIONS, SECTIONS, check_industry_code, describe, section_of
from supervision.records.schemas import check_uscc

# registered codes (the same as tests/unit/test_uscc.py), each with both check characters right
KNOWN = ["914403001922038216", "91440300708461136T", "91110000600037341L"]


@pytest.mark.parametrize("code", KNOWN)
def test_known_codes_are_valid_and_any_single_change_is_caught(code: str) -> None:
    assert uscc_problem(code) is None and is_valid_uscc(code)
    for i, ch in enumerate(code):
        other = "1" if ch != "1" else "2"
        changed = code[:i] + other + code[i + 1:]
        assert uscc_problem(changed) is not None, changed


def test_the_problem_says_which_check_failed() -> None:
    code = make_uscc("329902", "MA1RC001")
    last = "0" if code[-1] != "0" else "1"
    assert uscc_problem(code[:-1] + last) == "check character (18th) is wrong"
    assert uscc_problem(code[:16] + ("0" if code[16] != "0" else "1") + code[17]) is not None
    assert uscc_problem(code[:10]) == "not 18 characters"
    assert uscc_problem(code.lower()).startswith("characters outside")


def test_typed_codes_are_normalised_and_refusals_name_the_field() -> None:
    code = make_uscc("329902", "MA1RC001")
    assert check_uscc(f"  {code.lower()} ") == code
    with pytest.raises(InvalidInput) as caught:
        check_uscc("91329902MA1RC0017X", "enterprise_uscc")
    assert caught.value.input_name == "enterprise_uscc" and caught.value.details["reason"]


def test_the_divisions_cover_01_to_97_under_their_sections() -> None:
    assert list(DIVISIONS) == [f"{n:02d}" for n in range(1, 98)]
    covered = [n for (_, _, lo, hi) in SECTIONS.values() for n in range(lo, hi + 1)]
    assert covered == list(range(1, 98))
    assert (section_of("26"), section_of("45"), section_of("97")) == ("C", "D", "T")


@pytest.mark.parametrize(("value", "expected"), [("2614", "2614"), ("c2614", "C2614"), ("26", "26"), ("261", "261"),
                                                 ("B1011", "B1011"), ("F5162", "F5162")])
def test_valid_industry_codes(value: str, expected: str) -> None:
    assert check_industry_code(value) == expected


@pytest.mark.parametrize(("value", "reason"), [("9914", "unknown division"), ("00", "unknown division"),
                                               ("A2614", "section letter disagrees with the division"),
                                               ("C26145", "not the shape"), ("2", "not the shape"),
                                               ("U2614", "not the shape"), ("", "required")])
def test_invalid_industry_codes_name_the_field(value: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_industry_code(value)
    assert caught.value.input_name == "industry_code" and reason in caught.value.details["reason"]


def test_describe_names_section_and_division() -> None:
    assert describe("C2614") == {"section": "C", "section_name": "制造业", "division": "26",
                                 "division_name": "化学原料和化学制品制造业"}
