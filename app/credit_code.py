"""Unified social credit codes (统一社会信用代码, GB 32100-2015): alphabet, authority and type, check character.

The 18 characters: registration authority (1), organisation type (1), administrative division (6
digits), the organisation code (9, GB 11714) and the check character, all from the 31 characters
0-9 and A-Z without I, O, Z, S and V.
"""

from __future__ import annotations

import re

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUES = {character: value for value, character in enumerate(ALPHABET)}
# Weight of position i (0-based) is 3^i mod 31.
_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_PATTERN = re.compile(f"^[{ALPHABET}]{{2}}[0-9]{{6}}[{ALPHABET}]{{10}}$")

# Registration authority → the organisation types it registers (GB 32100-2015 Table 1 and its amendments).
AUTHORITY_TYPES: dict[str, str] = {
    "1": "1239",   # 机构编制：机关、事业单位、编办直管的群众团体、其他
    "2": "19",     # 外交：外国常驻新闻机构、其他
    "3": "123459",  # 司法行政：律师执业机构、外国律所驻华代表机构、司法鉴定机构、仲裁委员会、公证处、其他
    "4": "19",     # 文化：外国在华文化中心、其他
    "5": "1239",   # 民政：社会团体、民办非企业单位（社会服务机构）、基金会、其他
    "6": "129",    # 旅游：外国及港澳台旅游部门常驻代表机构、其他
    "7": "129",    # 宗教：宗教活动场所、宗教院校、其他
    "8": "19",     # 工会：基层工会、其他
    "9": "123",    # 市场监管（工商）：企业、个体工商户、农民专业合作社
    "A": "19",     # 中央军委改革和编制办公室：军队事业单位、其他
    "N": "1239",   # 农业农村：组级、村级、乡镇级集体经济组织、其他
    "Y": "1",      # 其他
}


def check_character(first17: str) -> str:
    """The check character of the first 17 characters: 31 - (Σ value × 3^i mod 31) mod 31."""
    total = sum(_VALUES[character] * weight for character, weight in zip(first17, _WEIGHTS))
    return ALPHABET[(31 - total % 31) % 31]


def normalize(raw: str) -> str:
    """Upper case without surrounding blanks, as the code is stored."""
    return raw.strip().upper()


def validate(raw: str) -> str:
    """Return the normalised code; raise ValueError with a Chinese reason if it is not a valid one."""
    code = normalize(raw)
    if len(code) != 18:
        raise ValueError("统一社会信用代码应为18位")
    if not _PATTERN.match(code):
        raise ValueError("统一社会信用代码含有不允许的字符（不使用 I、O、Z、S、V），第3至8位应为行政区划数字")
    types = AUTHORITY_TYPES.get(code[0])
    if types is None:
        raise ValueError("统一社会信用代码的登记管理部门代码（第1位）无效")
    if code[1] not in types:
        raise ValueError("统一社会信用代码的机构类别代码（第2位）无效")
    if check_character(code[:17]) != code[17]:
        raise ValueError("统一社会信用代码校验位不正确，请核对")
    return code


def is_valid(raw: str) -> bool:
    """Whether `raw` is a valid code."""
    try:
        validate(raw)
    except ValueError:
        return False
    return True
