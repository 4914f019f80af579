"""Unified social credit codes (GB 32100-2015): check character, alphabet, authority and type codes."""

from __future__ import annotations

import pytest

from app import credit_code

# Public codes: the standard's own example, enterprises, a public institution (1-2) and a social organisation (5-3).
REAL_CODES = ["91350100M000100Y43", "91440300708461136T", "91110000802100433B", "91110108551385082Q",
              "12100000400000624D", "53100000500021676K"]


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_are_valid(code):
    assert credit_code.validate(code) == code
    assert credit_code.check_character(code[:17]) == code[17]


def test_lower_case_and_blanks_are_normalised():
    assert credit_code.validate(" 91350100m000100y43 ") == "91350100M000100Y43"


def test_the_weights_are_powers_of_three_mod_31():
    assert credit_code._WEIGHTS[:6] == (1, 3, 9, 27, 19, 26)


@pytest.mark.parametrize("code", REAL_CODES)
def test_every_other_check_character_is_refused(code):
    for wrong in credit_code.ALPHABET.replace(code[17], ""):
        with pytest.raises(ValueError, match="校验位"):
            credit_code.validate(code[:17] + wrong)


@pytest.mark.parametrize("code, reason", [
    ("91350100M000100Y4", "18位"),
    ("91350100M000100Y433", "18位"),
    ("91350100M0001O0Y43", "不允许的字符"),   # O is not in the alphabet
    ("91350100I000100Y43", "不允许的字符"),
    ("9135010SM000100Y43", "不允许的字符"),   # the division code is digits
    ("913501 0M000100Y43", "不允许的字符"),
    ("B1350100M000100Y43", "登记管理部门"),
    ("94350100M000100Y43", "机构类别"),        # 工商 registers types 1-3 only
    ("Y2350100M000100Y43", "机构类别"),
])
def test_malformed_codes_name_the_reason(code, reason):
    with pytest.raises(ValueError, match=reason):
        credit_code.validate(code)
    assert not credit_code.is_valid(code)


def test_a_swapped_pair_of_characters_is_caught():
    code = "91350100M000100Y43"
    swapped = code[:8] + code[9] + code[8] + code[10:]  # "M0" → "0M"
    assert not credit_code.is_valid(swapped)
