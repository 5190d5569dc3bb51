"""GB/T 3304-1991 names of the ethnic groups of China and their romanised codes (all 56, plus the
two catch-all codes 97 and 98 the standard defines)."""

from __future__ import annotations

from dataclasses import dataclass

from phip.standards import codesystems as cs


@dataclass(frozen=True, slots=True)
class EthnicGroup:
    code: str  # two-digit numeric code
    alpha: str  # two-letter romanised code
    name_zh: str
    name_en: str


_TABLE = """
01 HA 汉族 Han|02 MG 蒙古族 Mongol|03 HU 回族 Hui|04 ZA 藏族 Tibetan|05 UG 维吾尔族 Uyghur|06 MH 苗族 Miao
07 YI 彝族 Yi|08 ZH 壮族 Zhuang|09 BY 布依族 Buyei|10 CS 朝鲜族 Korean|11 MA 满族 Manchu|12 DO 侗族 Dong
13 YA 瑶族 Yao|14 BA 白族 Bai|15 TJ 土家族 Tujia|16 HN 哈尼族 Hani|17 KZ 哈萨克族 Kazakh|18 DA 傣族 Dai
19 LI 黎族 Li|20 LS 傈僳族 Lisu|21 VA 佤族 Va|22 SH 畲族 She|23 GS 高山族 Gaoshan|24 LH 拉祜族 Lahu
25 SU 水族 Sui|26 DX 东乡族 Dongxiang|27 NX 纳西族 Naxi|28 JP 景颇族 Jingpo|29 KG 柯尔克孜族 Kyrgyz
30 TU 土族 Tu|31 DU 达斡尔族 Daur|32 ML 仫佬族 Mulao|33 QI 羌族 Qiang|34 BL 布朗族 Blang|35 SL 撒拉族 Salar
36 MN 毛南族 Maonan|37 GL 仡佬族 Gelao|38 XB 锡伯族 Xibe|39 AC 阿昌族 Achang|40 PM 普米族 Pumi
41 TA 塔吉克族 Tajik|42 NU 怒族 Nu|43 UZ 乌孜别克族 Uzbek|44 RS 俄罗斯族 Russian|45 EW 鄂温克族 Evenki
46 DE 德昂族 De'ang|47 BN 保安族 Bonan|48 YG 裕固族 Yugur|49 GI 京族 Gin|50 TT 塔塔尔族 Tatar
51 DR 独龙族 Derung|52 OR 鄂伦春族 Oroqen|53 HZ 赫哲族 Hezhen|54 MB 门巴族 Monba|55 LB 珞巴族 Lhoba
56 JN 基诺族 Jino
"""

ETHNIC_GROUPS: tuple[EthnicGroup, ...] = tuple(
    EthnicGroup(*entry.split(" ", 3)) for line in _TABLE.strip().splitlines() for entry in line.split("|")
)
#: Codes outside the 56 groups: 97 unidentified group, 98 naturalised foreigner.
OTHER_CODES = {
    "97": ("未识别的民族", "Unidentified ethnic group"),
    "98": ("入籍外国人", "Naturalised foreigner"),
}

BY_CODE = {g.code: g for g in ETHNIC_GROUPS}
BY_NAME = {g.name_zh: g for g in ETHNIC_GROUPS} | {g.name_zh[:-1]: g for g in ETHNIC_GROUPS}
BY_ALPHA = {g.alpha: g for g in ETHNIC_GROUPS}


def is_valid(code: str | None) -> bool:
    return bool(code) and (code in BY_CODE or code in OTHER_CODES)


def lookup(value: str) -> EthnicGroup | None:
    """By numeric code, romanised code, or Chinese name with or without 族."""
    v = value.strip()
    return BY_CODE.get(v.zfill(2) if v.isdigit() else v) or BY_ALPHA.get(v.upper()) or BY_NAME.get(v)


def display(code: str, locale: str = "zh-CN") -> str:
    if code in OTHER_CODES:
        return OTHER_CODES[code][0 if locale.startswith("zh") else 1]
    g = BY_CODE[code]
    return g.name_zh if locale.startswith("zh") else g.name_en


def coding(code: str) -> dict[str, str]:
    """FHIR Coding for a GB/T 3304 code."""
    return {"system": cs.GB3304_ETHNICITY, "code": code, "display": display(code)}
